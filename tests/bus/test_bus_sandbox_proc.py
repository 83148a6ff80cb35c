"""ProtectProc=, ProcSubset= and PrivateUsers= seen from inside services started by the real
systemctl (system scope, private PID + mount namespace: bus_harness.py).

The probes run as nobody and look at a "victim" service running as another user (daemon) and at
PID 1 (root): what /proc shows of them is the verdict. Each probe prints its facts to a file the
manager opens for it (StandardOutput=file:), so a failure says which fact was wrong.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from bus_harness import Manager, make_manager

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces)")

# Facts about /proc as the unit sees it, one "name state" per line.
PROC_PROBE = """#!/bin/sh
seen() { if [ -e "/proc/$1" ]; then echo "$2 visible"; else echo "$2 hidden"; fi; }
seen 1 pid1
seen "$VICTIM" victim
seen self self
sleep 5 & seen $! child
kill $!
if cat "/proc/$VICTIM/cmdline" >/dev/null 2>&1; then echo "victim-cmdline readable"; \
else echo "victim-cmdline denied"; fi
for f in meminfo cpuinfo sys; do if [ -e "/proc/$f" ]; then echo "$f present"; else echo "$f absent"; fi; done
"""
# The user namespace as the unit sees it.
USERNS_PROBE = """#!/bin/sh
echo "uid $(id -u) $(id -g)"
for m in uid_map gid_map; do echo "$m $(awk '{printf "%s %s %s;", $1, $2, $3}' /proc/self/$m)"; done
echo "foreign $(stat -c %u:%g "$(dirname "$0")/foreign")"
echo "shadow $(stat -c %u:%g /etc/shadow)"
"""

PLAIN = {"pid1": "visible", "victim": "visible", "self": "visible", "child": "visible",
         "victim-cmdline": "readable", "meminfo": "present", "cpuinfo": "present", "sys": "present"}
HIDDEN = {"pid1": "hidden", "victim": "hidden", "victim-cmdline": "denied"}
NO_SUBSET = {"meminfo": "absent", "cpuinfo": "absent", "sys": "absent"}
# unit: (settings, the facts that differ from PLAIN, ProtectProc and ProcSubset on the bus)
PROC_CASES = {
    "plain": ("", {}, ("default", "all")),
    "invisible": ("ProtectProc=invisible", HIDDEN, ("invisible", "all")),
    "noaccess": ("ProtectProc=noaccess", {"victim-cmdline": "denied"}, ("noaccess", "all")),
    # nobody may not ptrace another user's process, so those are hidden; its own stay
    "ptraceable": ("ProtectProc=ptraceable", HIDDEN, ("ptraceable", "all")),
    "subset": ("ProcSubset=pid", NO_SUBSET, ("default", "pid")),
    "both": ("ProtectProc=invisible\nProcSubset=pid", {**HIDDEN, **NO_SUBSET}, ("invisible", "pid")),
}
USERNS_CASES = {
    # unit: (settings, facts)
    "users-daemon": ("User=daemon", {"uid": "1 1", "uid_map": "0 0 1;1 1 1;", "gid_map": "0 0 1;1 1 1;",
                                      "foreign": "65534:65534", "shadow": "0:65534"}),
    "users-root": ("", {"uid": "0 0", "uid_map": "0 0 1;", "gid_map": "0 0 1;", "foreign": "65534:65534",
                        "shadow": "0:65534"}),
}


def _units(probes: Path) -> dict[str, str]:
    units = {"sysinit.target": "[Unit]\nDescription=System Initialization\n",
             "victim.service": "[Service]\nUser=daemon\nWorkingDirectory=/\nExecStart=/bin/sleep 1000\n"}
    for name, (settings, _facts, _bus) in PROC_CASES.items():
        units[f"proc-{name}.service"] = (
            f"[Service]\nType=oneshot\nUser=nobody\nWorkingDirectory=/\n{settings}\n"
            f"EnvironmentFile={probes}/victim.env\nStandardOutput=file:{probes}/proc-{name}.out\n"
            f"ExecStart={probes}/proc-probe\n")
    for name, (settings, _facts) in USERNS_CASES.items():
        units[f"{name}.service"] = (
            f"[Service]\nType=oneshot\nWorkingDirectory=/\nPrivateUsers=yes\n{settings}\n"
            f"StandardOutput=file:{probes}/{name}.out\nExecStart={probes}/userns-probe\n")
    return units


@pytest.fixture(scope="module")
def probes() -> Iterator[Path]:
    """A directory every user may read (pytest's own are root's alone): the probe scripts and a
    file owned by an ID no namespace here maps."""
    d = Path(tempfile.mkdtemp(prefix="sm-proc-probes-", dir="/tmp"))
    try:
        d.chmod(0o755)
        for name, text in (("proc-probe", PROC_PROBE), ("userns-probe", USERNS_PROBE)):
            (d / name).write_text(text)
            (d / name).chmod(0o755)
        (d / "foreign").touch()
        os.chown(d / "foreign", 4242, 4242)
        yield d
    finally:
        shutil.rmtree(d)


@pytest.fixture(scope="module")
def sm(tmp_path_factory: pytest.TempPathFactory, probes: Path) -> Iterator[Manager]:
    yield from make_manager(tmp_path_factory.mktemp("sandbox-proc"), "system", _units(probes))


def _facts(path: Path) -> dict[str, str]:
    return dict(line.split(" ", 1) for line in path.read_text().splitlines())


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


@pytest.mark.parametrize("case", sorted(PROC_CASES))
def test_proc_as_nobody_sees(sm: Manager, probes: Path, victim: str, case: str) -> None:
    _settings, differ, bus = PROC_CASES[case]
    started = sm.systemctl("start", f"proc-{case}.service")
    assert started.rc == 0, started.err + sm.systemctl("status", f"proc-{case}.service").out
    assert _facts(probes / f"proc-{case}.out") == {**PLAIN, **differ}
    shown = sm.systemctl("show", "-p", "ProtectProc", "-p", "ProcSubset", f"proc-{case}.service").out
    assert shown == f"ProtectProc={bus[0]}\nProcSubset={bus[1]}\n"


def test_proc_of_the_manager_untouched(sm: Manager, victim: str) -> None:
    """The restricted /proc instances live in the units' mount namespaces only."""
    assert sm.systemctl("start", "proc-both.service").rc == 0
    mountinfo = sm.ns.run(["cat", "/proc/self/mountinfo"], sm.env).out
    assert "hidepid" not in mountinfo and "subset=pid" not in mountinfo


@pytest.mark.parametrize("case", sorted(USERNS_CASES))
def test_private_users_maps_only_root_and_the_unit(sm: Manager, probes: Path, case: str) -> None:
    _settings, expected = USERNS_CASES[case]
    started = sm.systemctl("start", f"{case}.service")
    assert started.rc == 0, started.err + sm.systemctl("status", f"{case}.service").out
    assert _facts(probes / f"{case}.out") == expected
    assert sm.systemctl("show", "-P", "PrivateUsers", f"{case}.service").out == "yes\n"
