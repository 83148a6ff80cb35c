"""Smoke suite of an installed copy: run by test_installed_wheel.py under a fresh venv that holds
only the built wheel. Each test is what a user does first with a packaged sysmaster-py."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import sysmasterd

BIN = Path(sys.executable).parent
INSTALLED = "site-packages" in sysmasterd.__file__
pytestmark = pytest.mark.skipif(not INSTALLED, reason="checks an installed wheel: test_installed_wheel.py builds "
                                                      "one and runs this file under it")


def run(*argv: str, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd="/", **kw)  # type: ignore[call-overload]


def test_nothing_comes_from_a_checkout() -> None:
    import compat
    import udev_rules_translator
    from sysmasterd.bus import spec

    for module in (sysmasterd, compat, udev_rules_translator):
        assert Path(module.__file__ or "").is_relative_to(BIN.parent), module.__file__
    assert "org.freedesktop.systemd1.Manager" in spec.interface_names()


@pytest.mark.parametrize(("program", "expected"), [("sctl", "systemd 252"), ("devctl", "252")])
def test_version(program: str, expected: str) -> None:
    r = run(str(BIN / program), "--version")
    assert r.returncode == 0 and r.stdout.startswith(expected), r


def test_rules_translator_checks_debians_rules() -> None:
    r = run(str(BIN / "udev-rules-translate"), "check")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "rules files checked: 0 errors" in r.stderr


def test_sysmasterd_test_mode(tmp_path: Path) -> None:
    (tmp_path / "hello.service").write_text("[Service]\nExecStart=/bin/true\n")
    r = run(str(BIN / "sysmasterd"), "--user", "--test", "--dump", "--unit-path", str(tmp_path), "--unit",
            "hello.service")
    assert r.returncode == 0 and "hello.service" in r.stdout, r


@pytest.fixture(params=["user", "system"])
def manager(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[object]:
    from bus_harness import make_manager  # tests/bus on the path: see conftest.py

    units = {"hello.service": "[Unit]\nDefaultDependencies=no\n[Service]\nExecStart=/bin/sleep 300\n"}
    yield from make_manager(tmp_path, request.param, units)


def test_real_systemctl_drives_the_installed_daemon(manager: object) -> None:
    m = manager
    r = m.systemctl("start", "hello.service")  # type: ignore[attr-defined]
    assert r.rc == 0, r
    assert m.systemctl("is-active", "hello.service").out.strip() == "active"  # type: ignore[attr-defined]
    status = m.systemctl("status", "hello.service")  # type: ignore[attr-defined]
    assert "Active: active (running)" in status.out, status


def test_init_brings_back_a_killed_core() -> None:
    from recovery_harness import namespace, service

    units = {"boot.target": "[Unit]\nWants=sleeper.service\n",
             "sleeper.service": service("ExecStart=/bin/sleep 30001")}
    with namespace(units) as ns:
        ns.settle()
        before = ns.sleepers("30001")
        assert len(before) == 1
        ns.wait_ready(ns.kill_core())
        assert ns.units_table()["sleeper.service"][:2] == ("active", "running")
        assert ns.sleepers("30001") == before


def test_devmaster_answers_udevadm() -> None:
    from dm_sandbox import sandbox

    with sandbox() as box:
        proc = box.start_devmaster()  # waits for `udevadm control --ping`
        assert box.run(["udevadm", "control", "--ping"]).returncode == 0
        assert box.run(["udevadm", "settle", "-t", "5"]).returncode == 0
        box.stop_devmaster(proc)
    assert os.environ.get("PYTHONPATH") is None
