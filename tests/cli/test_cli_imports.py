"""Each sctl/devctl verb imports only what it needs (issue 16): start-up is a feature, and a stray
top-level import (asyncio, the rules compiler, dbus-fast, compat.model's dataclasses) would cost
several times the interpreter's own start without any test noticing. Every verb runs for real —
sctl against a live sysmasterd in the bus harness, devctl on /dev/null and without a daemon —
and reports sys.modules at exit."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bus"))
from bus_harness import REPO, Manager, make_manager

# Runs like the console-script wrapper (`from sysmasterd.cli.X import main`), then lists sys.modules.
HOOK = """import atexit, sys
atexit.register(lambda: sys.stderr.write("\\nMODULES " + " ".join(sorted(sys.modules)) + "\\n"))
tool = sys.argv[1]
sys.argv = sys.argv[1:]
main = __import__(f"sysmasterd.cli.{tool}", fromlist=["main"]).main
sys.exit(main())
"""

# Never, for any verb: an event loop, the daemon's bus library and D-Bus face, the core, the rules
# compiler (devctl's enumerator may use the package's glob matcher alone), the process/netlink
# libraries, argparse.
ALWAYS = ("asyncio", "dbus_fast", "sysmasterd.bus", "sysmasterd.core", "udev_rules_translator", "psutil",
          "pyroute2", "configobj", "argparse")
ALLOWED = ("udev_rules_translator", "udev_rules_translator.glob")
# sctl's everyday verbs also keep clear of compat.model (dataclasses by the dozen), dataclasses and
# typing. status and show format time spans through compat.values, which has them all.
LEAN = ("compat.model", "compat.unitname", "compat.values", "dataclasses", "typing", "socket", "logging")

SCTL_VERBS: list[tuple[list[str], tuple[str, ...]]] = [
    (["--version"], LEAN),
    (["--help"], LEAN),
    (["--bogus"], LEAN),
    (["is-active", "sleepy.service"], LEAN),
    (["is-failed", "sleepy.service"], LEAN),
    (["start", "sleepy.service"], LEAN),
    (["stop", "sleepy.service"], LEAN),
    (["start", "sleepy"], LEAN),
    (["restart", "sleepy.service"], LEAN),
    (["list-units"], LEAN),
    (["list-jobs"], LEAN),
    (["cat", "sleepy.service"], LEAN),
    (["status", "sleepy.service"], ("socket", "logging")),
    (["show", "sleepy.service"], ("socket", "logging")),
    (["is-enabled", "sleepy.service"], LEAN),
    (["daemon-reload"], LEAN),
    (["show-environment"], LEAN),
    (["list-dependencies"], LEAN),
    (["is-system-running"], LEAN),
    (["list-unit-files"], ()),
    # set-property types values with compat's parsers; edit off a terminal stops before them.
    (["set-property", "sleepy.service", "CPUWeight=100", "MemoryMax=10%"], ("socket", "logging")),
    (["set-property", "sleepy.service", "Bogus=1"], ("socket", "logging")),
    (["edit", "sleepy.service"], LEAN),
    (["blame"], ()),
]
# devctl: the verbs that do not change anything; control/settle run with no daemon (connect fails
# after the imports). The rules executor is for `test` only, netlink for monitor/trigger.
NOT_RULES = ("sysmasterd.devmaster.rules.executor", "sysmasterd.devmaster.rules.loader",
             "sysmasterd.devmaster.framework.processing")
# Read-only verbs: no spawner (subprocess, ctypes), logging, tempfile or shutil; a dry-run trigger
# opens neither the control socket nor the uevent monitor.
QUIET = (*NOT_RULES, "sysmasterd.devmaster.rules.spawn", "subprocess", "ctypes", "logging", "tempfile", "shutil")
# The device model and the builtins' set-up are plain classes: dataclasses imports inspect (and
# typing costs as much), ~15 ms of devctl's start on this VM.
PLAIN = ("dataclasses", "inspect", "typing")
DEVCTL_VERBS: list[tuple[list[str], tuple[str, ...]]] = [
    (["--version"], ("sysmasterd.devmaster", "dataclasses", "socket")),
    (["--help"], ("sysmasterd.devmaster", "dataclasses", "socket")),
    (["info", "/dev/null"], (*NOT_RULES, *PLAIN, "socket", "sysmasterd.devmaster.framework.netlink")),
    (["info", "-q", "path", "-n", "null"], (*QUIET, *PLAIN, "socket", "uuid")),
    # test-builtin sets up every builtin with data first, as udevadm's does (its debug trace shows
    # it): libkmod through ctypes, the .link files, logging for that trace; none of the modules
    # only the builtins' work needs (subprocess, platform, socket).
    (["test-builtin", "path_id", "/sys/class/mem/null"],
     (*NOT_RULES, *PLAIN, "sysmasterd.devmaster.rules.spawn", "sysmasterd.devmaster.framework.netlink",
      "subprocess", "platform", "socket")),
    (["trigger", "--dry-run", "-s", "mem"],
     (*QUIET, "socket", "uuid", "sysmasterd.devmaster.framework.netlink", "sysmasterd.cli.devctl_client",
      "sysmasterd.devmaster.framework.control_wire")),
    (["control", "--ping"], (*NOT_RULES, "socket", "sysmasterd.devmaster.framework.control")),
    (["settle", "-t", "0"], (*NOT_RULES, "socket", "sysmasterd.devmaster.framework.control")),
    (["monitor", "--help"], NOT_RULES),
    (["hwdb", "--help"], (*NOT_RULES, "sysmasterd.devmaster.builtin.hwdb_compile")),
]


def imported(stderr: str) -> set[str]:
    line = next(line for line in stderr.splitlines() if line.startswith("MODULES "))
    return set(line.split()[1:])


def offenders(modules: set[str], forbidden: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules - set(ALLOWED) for f in forbidden if m == f or m.startswith(f + "."))


@pytest.fixture(scope="module")
def um(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Manager]:
    units = {"sleepy.service": "[Unit]\nDescription=Sleepy\n[Service]\nExecStart=/bin/sleep 1000\n"
                               "[Install]\nWantedBy=default.target\n"}
    yield from make_manager(tmp_path_factory.mktemp("imports"), "user", units)


@pytest.mark.parametrize(("args", "extra"), SCTL_VERBS, ids=[" ".join(a) for a, _ in SCTL_VERBS])
def test_sctl_verb_imports(um: Manager, args: list[str], extra: tuple[str, ...]) -> None:
    result = um.ns.run([sys.executable, "-c", HOOK, "sctl", "--user", *args], um.env)
    assert "Failed to connect" not in result.err, result.err
    assert offenders(imported(result.err), ALWAYS + extra) == []


@pytest.mark.parametrize(("args", "extra"), DEVCTL_VERBS, ids=[" ".join(a) for a, _ in DEVCTL_VERBS])
def test_devctl_verb_imports(tmp_path: Path, args: list[str], extra: tuple[str, ...]) -> None:
    result = subprocess.run([sys.executable, "-c", HOOK, "devctl", *args], capture_output=True, text=True,
                            cwd=tmp_path, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)}, timeout=60)
    assert offenders(imported(result.stderr), ALWAYS + extra) == []


def test_hook_sees_a_forbidden_import(tmp_path: Path) -> None:
    """The check itself works: a module imported on purpose shows up as an offender."""
    script = HOOK.replace("tool = sys.argv[1]", "import asyncio\ntool = sys.argv[1]")
    result = subprocess.run([sys.executable, "-c", script, "sctl", "--version"], capture_output=True, text=True,
                            cwd=tmp_path, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)}, timeout=60)
    assert "asyncio" in offenders(imported(result.stderr), ALWAYS)
