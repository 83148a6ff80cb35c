"""Slices and scopes as systemd lays them out, seen through the real systemctl and /proc."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from bus_harness import Manager, make_manager

UNITS = {
    "sysinit.target": "[Unit]\nDescription=System Initialization\n",
    "sleeper.service": "[Unit]\nDefaultDependencies=no\n[Service]\nExecStart=/bin/sleep 300\n",
    "getty@.service": "[Unit]\nDefaultDependencies=no\n[Service]\nExecStart=/bin/sleep 301\n",
    "placed.service": "[Unit]\nDefaultDependencies=no\n[Service]\nSlice=machine-test.slice\n"
                      "ExecStart=/bin/sleep 302\n",
}


@pytest.fixture(scope="module")
def sm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Manager]:
    yield from make_manager(tmp_path_factory.mktemp("slices"), "system", UNITS)


@pytest.fixture(scope="module")
def um(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Manager]:
    yield from make_manager(tmp_path_factory.mktemp("uslices"), "user", UNITS)


def _show(m: Manager, unit: str, *props: str) -> dict[str, str]:
    r = m.systemctl("show", *(f"-p{p}" for p in props), "--", unit)
    assert r.rc == 0, r
    return dict(line.split("=", 1) for line in r.out.splitlines() if "=" in line)


def _proc_cgroup(m: Manager, unit: str) -> str:
    pid = _show(m, unit, "MainPID")["MainPID"]
    r = m.ns.run(["cat", f"/proc/{pid}/cgroup"], m.env)
    return r.out


def test_perpetual_units_are_active_and_cannot_be_stopped(sm: Manager) -> None:
    for unit, sub in (("-.slice", "active"), ("system.slice", "active"), ("init.scope", "running")):
        got = _show(sm, unit, "ActiveState", "SubState", "LoadState")
        assert (got["LoadState"], got["ActiveState"], got["SubState"]) == ("loaded", "active", sub), unit
    # Synthesized as systemd does: no default dependencies, so a shutdown transaction never
    # conflicts with the slice every service requires.
    got = _show(sm, "system.slice", "Description", "Conflicts")
    assert got == {"Description": "System Slice", "Conflicts": ""}
    r = sm.systemctl("stop", "--", "-.slice")
    assert r.rc != 0 and "not applicable" in r.err
    assert _show(sm, "-.slice", "ActiveState")["ActiveState"] == "active"


def test_services_live_in_system_slice_and_template_slices(sm: Manager) -> None:
    for unit in ("sleeper.service", "getty@tty1.service", "placed.service"):
        assert sm.systemctl("start", unit).rc == 0
    # A slice's place in the tree follows its name: system-getty.slice is inside system.slice.
    expected = {"sleeper.service": ("system.slice", "system.slice"),
                "getty@tty1.service": ("system-getty.slice", "system.slice/system-getty.slice"),
                "placed.service": ("machine-test.slice", "machine.slice/machine-test.slice")}
    for unit, (slice_name, nested) in expected.items():
        got = _show(sm, unit, "Slice", "ControlGroup")
        assert got["Slice"] == slice_name
        assert got["ControlGroup"].endswith(f"/{nested}/{unit}"), got
        assert f"/{nested}/{unit}" in _proc_cgroup(sm, unit)
    # Implicit slices come into being, and are active while their units run.
    for slice_name in ("system-getty.slice", "machine.slice", "machine-test.slice"):
        got = _show(sm, slice_name, "LoadState", "ActiveState")
        assert (got["LoadState"], got["ActiveState"]) == ("loaded", "active"), slice_name
    status = sm.systemctl("status", "getty@tty1.service")
    assert "/system.slice/system-getty.slice/getty@tty1.service" in status.out  # the CGroup: line


def test_user_manager_uses_app_slice(um: Manager) -> None:
    assert um.systemctl("start", "sleeper.service", "getty@tty2.service").rc == 0
    assert _show(um, "sleeper.service", "Slice")["Slice"] == "app.slice"
    assert _show(um, "getty@tty2.service", "Slice")["Slice"] == "app-getty.slice"
    assert _show(um, "-.slice", "ActiveState")["ActiveState"] == "active"
    assert _show(um, "system.slice", "LoadState")["LoadState"] == "loaded"  # any slice name loads


def test_slices_are_created_and_removed_in_systemd_words(um: Manager) -> None:
    assert um.systemctl("start", "getty@tty3.service").rc == 0
    assert "Created slice app-getty.slice." in um.log
    assert um.systemctl("stop", "getty@tty2.service", "getty@tty3.service", "app-getty.slice").rc == 0
    assert "Removed slice app-getty.slice." in um.log
