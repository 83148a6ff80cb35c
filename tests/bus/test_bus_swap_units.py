"""Swap units through the real systemctl, in the harness's PID + mount namespace: a .swap unit turns
a swap file of the test's own on and off with /sbin/swapon and /sbin/swapoff, swap turned on by
someone else shows up as a unit, a swap file the kernel refuses fails as systemd words it, and in a
container (what this VM is, by systemd-detect-virt) the type is unsupported as in systemd.

Swap is not namespaced: what is turned on here is the host's swap for a moment, so only the test's
own files are used and each one is turned off again in `finally`. The manager's view of "no
container" comes from a systemd-detect-virt of the test put first in its PATH."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from bus_harness import Manager, make_manager, wait_for

from compat import unitname

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="swapon needs root")


def _name(path: Path) -> str:
    return unitname.path_escape(str(path)) + ".swap"


def _swaps() -> dict[str, list[str]]:
    with open("/proc/swaps") as f:
        return {line.split()[0]: line.split() for line in f.read().splitlines()[1:]}


def _swapoff(path: Path) -> None:
    if str(path) in _swaps():
        subprocess.run(["/sbin/swapoff", str(path)], check=False)


def _swap_file(path: Path, signature: bool = True) -> Path:
    with open(path, "wb") as f:
        f.write(bytes(4 << 20))  # written out: swapon skips files with holes
    path.chmod(0o600)
    if signature:
        subprocess.run(["mkswap", str(path)], check=True, capture_output=True)
    return path


@pytest.fixture(scope="module")
def area(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    area = tmp_path_factory.mktemp("swaps")
    files = [_swap_file(area / "file"), _swap_file(area / "ext"), _swap_file(area / "bad", signature=False)]
    try:
        yield area
    finally:
        for path in files:
            _swapoff(path)


def _units(area: Path) -> dict[str, str]:
    return {
        _name(area / "file"): f"[Unit]\nDescription=Scratch swap\n[Swap]\nWhat={area}/file\nPriority=5\n",
        _name(area / "bad"): f"[Swap]\nWhat={area}/bad\n",
    }


@pytest.fixture(scope="module")
def sm(tmp_path_factory: pytest.TempPathFactory, area: Path) -> Iterator[Manager]:
    tools = tmp_path_factory.mktemp("tools")
    fake = tools / "systemd-detect-virt"
    fake.write_text("#!/bin/sh\necho none\nexit 1\n")
    fake.chmod(0o755)
    managers = make_manager(tmp_path_factory.mktemp("system"), "system", _units(area))
    with pytest.MonkeyPatch.context() as mp:  # only while the manager starts: it keeps its environment
        mp.setenv("PATH", f"{tools}:{os.environ.get('PATH', '/usr/bin:/bin')}")
        m = next(managers)
    try:
        yield m
    finally:
        managers.close()


@pytest.fixture(scope="module")
def container(tmp_path_factory: pytest.TempPathFactory, area: Path) -> Iterator[Manager]:
    yield from make_manager(tmp_path_factory.mktemp("container"), "system", _units(area))


def _show(sm: Manager, unit: str, *props: str) -> dict[str, str]:
    r = sm.systemctl("show", *(f"-p{p}" for p in props), "--", unit)
    assert r.rc == 0, r.err
    return dict(line.split("=", 1) for line in r.out.splitlines() if "=" in line)


def test_start_and_stop_swap(sm: Manager, area: Path) -> None:
    path, unit = area / "file", _name(area / "file")
    try:
        r = sm.systemctl("start", unit)
        assert r.rc == 0, r.err
        assert _swaps()[str(path)][4] == "5"
        props = _show(sm, unit, "ActiveState", "SubState", "Result", "What", "Priority", "ExecActivate",
                      "Description", "Before", "Conflicts", "After")
        assert (props["ActiveState"], props["SubState"], props["Result"]) == ("active", "active", "success")
        assert (props["What"], props["Priority"], props["Description"]) == (str(path), "5", "Scratch swap")
        assert f"argv[]=/sbin/swapon --fixpgsz -o pri=5 {path} ;" in props["ExecActivate"]
        assert "swap.target" in props["Before"].split() and "umount.target" in props["Conflicts"].split()
        assert "systemd-remount-fs.service" in props["After"].split()
        r = sm.systemctl("stop", unit)
        assert r.rc == 0, r.err
        assert str(path) not in _swaps()
        # Inactive and unreferenced, the unit is collected as in systemd: ExecDeactivate= is gone with it.
        assert _show(sm, unit, "ActiveState", "SubState") == {"ActiveState": "inactive", "SubState": "dead"}
    finally:
        _swapoff(path)


def test_swap_of_others_is_followed(sm: Manager, area: Path) -> None:
    path, unit = area / "ext", _name(area / "ext")
    try:
        subprocess.run(["/sbin/swapon", "-p", "3", str(path)], check=True)
        wait_for(lambda: _show(sm, unit, "ActiveState")["ActiveState"] == "active", "the swapon to be seen")
        props = _show(sm, unit, "LoadState", "SubState", "What", "Priority", "SourcePath", "FragmentPath",
                      "Description")
        assert props == {"LoadState": "loaded", "SubState": "active", "What": str(path), "Priority": "3",
                         "SourcePath": "/proc/swaps", "FragmentPath": "", "Description": str(path)}
        r = sm.systemctl("list-units", "--type=swap", "--plain", "--no-legend", "--no-pager")
        assert unit in r.out.split()
        subprocess.run(["/sbin/swapoff", str(path)], check=True)
        wait_for(lambda: _show(sm, unit, "ActiveState")["ActiveState"] == "inactive", "the swapoff to be seen")
    finally:
        _swapoff(path)


def test_refused_swap_fails_like_systemd(sm: Manager, area: Path) -> None:
    unit = _name(area / "bad")
    try:
        r = sm.systemctl("start", unit)
        assert r.rc != 0 and "ailed" in r.err
        assert _show(sm, unit, "ActiveState", "SubState", "Result") == {
            "ActiveState": "failed", "SubState": "failed", "Result": "exit-code"}
        assert f"{unit}: Swap process exited, code=exited, status=255/EXCEPTION" in sm.log
        status = sm.systemctl("status", "--no-pager", unit)
        assert "Active: failed (Result: exit-code)" in status.out
        assert sm.systemctl("reset-failed", unit).rc == 0
    finally:
        _swapoff(area / "bad")


def test_unsupported_in_a_container(container: Manager, area: Path) -> None:
    """systemd 252 supports no swap units in a container: starting one fails at once, and no
    swapon runs."""
    unit = _name(area / "file")
    try:
        r = container.systemctl("start", unit)
        assert r.rc != 0
        assert str(area / "file") not in _swaps()
        assert _show(container, unit, "ActiveState")["ActiveState"] == "inactive"
        assert "swapon" not in container.log
        assert "not supported on this system" in r.err  # systemctl's words for the job result
        assert "Starting of Scratch swap unsupported." in container.log
    finally:
        _swapoff(area / "file")
