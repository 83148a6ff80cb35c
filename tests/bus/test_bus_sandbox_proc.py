"""ProtectProc=, ProcSubset= and PrivateUsers= seen from inside services started by the real
systemctl (system scope, private PID + mount namespace: bus_harness.py).

The probes run as nobody and look at a "victim" service running as another user (daemon) and at
PID 1 (root): what /proc shows of them is the verdict. Each probe (tests/support/sandbox_probes.py)
prints its facts to a file the manager opens for it (StandardOutput=file:), so a failure says
which fact was wrong.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from bus_harness import Manager, make_manager
from sandbox_probes import PROC_SETTINGS, USERNS_SETTINGS, facts, probe_dir, probe_units

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces)")

PLAIN = {"pid1": "visible", "victim": "visible", "self": "visible", "child": "visible",
         "victim-cmdline": "readable", "meminfo": "present", "cpuinfo": "present", "sys": "present"}
HIDDEN = {"pid1": "hidden", "victim": "hidden", "victim-cmdline": "denied"}
NO_SUBSET = {"meminfo": "absent", "cpuinfo": "absent", "sys": "absent"}
# case: (the facts that differ from PLAIN, ProtectProc and ProcSubset on the bus)
PROC_CASES = {
    "plain": ({}, ("default", "all")),
    "invisible": (HIDDEN, ("invisible", "all")),
    "noaccess": ({"victim-cmdline": "denied"}, ("noaccess", "all")),
    # nobody may not ptrace another user's process, so those are hidden; its own stay
    "ptraceable": (HIDDEN, ("ptraceable", "all")),
    "subset": (NO_SUBSET, ("default", "pid")),
    "both": ({**HIDDEN, **NO_SUBSET}, ("invisible", "pid")),
}
USERNS_CASES = {
    "users-daemon": {"uid": "1 1", "uid_map": "0 0 1;1 1 1;", "gid_map": "0 0 1;1 1 1;", "foreign": "65534:65534",
                     "shadow": "0:65534"},
    "users-root": {"uid": "0 0", "uid_map": "0 0 1;", "gid_map": "0 0 1;", "foreign": "65534:65534",
                   "shadow": "0:65534"},
}


@pytest.fixture(scope="module")
def probes() -> Iterator[Path]:
    with probe_dir() as d:
        yield d


@pytest.fixture(scope="module")
def sm(tmp_path_factory: pytest.TempPathFactory, probes: Path) -> Iterator[Manager]:
    units = {"sysinit.target": "[Unit]\nDescription=System Initialization\n",
             **probe_units(probes, str(probes), f"{probes}/victim.env")}
    yield from make_manager(tmp_path_factory.mktemp("sandbox-proc"), "system", units)


@pytest.fixture(scope="module")
def victim(sm: Manager, probes: Path) -> Iterator[str]:
    assert sm.systemctl("start", "victim.service").rc == 0
    try:
        pid = sm.systemctl("show", "-P", "MainPID", "victim.service").out.strip()
        assert pid not in ("", "0")
        (probes / "victim.env").write_text(f"VICTIM={pid}\n")
        yield pid
    finally:
        sm.systemctl("stop", "victim.service")


def test_every_probe_unit_has_its_expectation() -> None:
    assert set(PROC_CASES) == set(PROC_SETTINGS) and set(USERNS_CASES) == set(USERNS_SETTINGS)


@pytest.mark.parametrize("case", sorted(PROC_CASES))
def test_proc_as_nobody_sees(sm: Manager, probes: Path, victim: str, case: str) -> None:
    differ, bus = PROC_CASES[case]
    started = sm.systemctl("start", f"proc-{case}.service")
    assert started.rc == 0, started.err + sm.systemctl("status", f"proc-{case}.service").out
    assert facts((probes / f"proc-{case}.out").read_text()) == {**PLAIN, **differ}
    shown = sm.systemctl("show", "-p", "ProtectProc", "-p", "ProcSubset", f"proc-{case}.service").out
    assert shown == f"ProtectProc={bus[0]}\nProcSubset={bus[1]}\n"


def test_proc_of_the_manager_untouched(sm: Manager, victim: str) -> None:
    """The restricted /proc instances live in the units' mount namespaces only."""
    assert sm.systemctl("start", "proc-both.service").rc == 0
    mountinfo = sm.ns.run(["cat", "/proc/self/mountinfo"], sm.env).out
    assert "hidepid" not in mountinfo and "subset=pid" not in mountinfo


@pytest.mark.parametrize("case", sorted(USERNS_CASES))
def test_private_users_maps_only_root_and_the_unit(sm: Manager, probes: Path, case: str) -> None:
    expected = USERNS_CASES[case]
    started = sm.systemctl("start", f"{case}.service")
    assert started.rc == 0, started.err + sm.systemctl("status", f"{case}.service").out
    assert facts((probes / f"{case}.out").read_text()) == expected
    assert sm.systemctl("show", "-P", "PrivateUsers", f"{case}.service").out == "yes\n"
