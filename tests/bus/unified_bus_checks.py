"""Resource control through the real systemctl in the unified layout (every controller on cgroup2):
`show` reports the settings and the accounting read from the unit's cgroup2 files, `set-property`
changes the files of a running unit at once, and a service killed by the kernel's OOM killer ends
with Result=oom-kill. This host's controllers are on v1, so tests/vm/test_unified_vm.py runs this
file inside a VM booted with cgroup_no_v1=all; the name keeps it out of the host's collection.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from bus_harness import Manager, make_manager, wait_for
from cgroup_layout import CGROUP2, unified

pytestmark = pytest.mark.skipif(not unified(), reason="needs the unified cgroup layout (run in the VM)")

UNITS = {
    "limits.service": "[Unit]\nDefaultDependencies=no\n[Service]\nExecStart=/bin/sleep 1000\n"
                      "MemoryMax=64M\nMemoryHigh=48M\nTasksMax=23\nCPUWeight=50\nCPUQuota=20%\n",
    "hog.service": "[Unit]\nDefaultDependencies=no\n[Service]\nType=oneshot\nMemoryMax=32M\nMemorySwapMax=0\n"
                   "ExecStart=/usr/bin/python3 -c 'b = bytearray(256 << 20); print(len(b))'\n",
}


@pytest.fixture(scope="module")
def sm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Manager]:
    yield from make_manager(tmp_path_factory.mktemp("unified"), "system", UNITS, config_dir=True)


def show(sm: Manager, unit: str, *props: str) -> dict[str, str]:
    r = sm.systemctl("show", unit, *(f"-p{p}" for p in props))
    assert r.rc == 0, r.err
    return dict(line.split("=", 1) for line in r.out.splitlines())


def cgroup_file(sm: Manager, unit: str, name: str) -> str:
    path = show(sm, unit, "ControlGroup")["ControlGroup"]
    with open(f"{CGROUP2}{path}/{name}") as f:
        return f.read().strip()


def test_show_and_cgroup_files(sm: Manager) -> None:
    assert sm.systemctl("start", "limits.service").rc == 0
    props = show(sm, "limits.service", "MemoryMax", "MemoryHigh", "TasksMax", "CPUWeight", "CPUQuotaPerSecUSec")
    assert (props["MemoryMax"], props["MemoryHigh"], props["TasksMax"]) == (str(64 << 20), str(48 << 20), "23")
    assert (props["CPUWeight"], props["CPUQuotaPerSecUSec"]) == ("50", "200ms")
    assert cgroup_file(sm, "limits.service", "memory.max") == str(64 << 20)
    assert cgroup_file(sm, "limits.service", "memory.high") == str(48 << 20)
    assert cgroup_file(sm, "limits.service", "pids.max") == "23"
    assert cgroup_file(sm, "limits.service", "cpu.weight") == "50"
    assert cgroup_file(sm, "limits.service", "cpu.max") == "20000 100000"
    # accounting from the unit's own cgroup2 files
    props = show(sm, "limits.service", "MemoryCurrent", "TasksCurrent", "CPUUsageNSec")
    assert int(props["MemoryCurrent"]) == int(cgroup_file(sm, "limits.service", "memory.current"))
    assert props["TasksCurrent"] == "1"
    assert int(props["CPUUsageNSec"]) >= 0


def test_set_property_applies_to_the_running_unit(sm: Manager) -> None:
    assert sm.systemctl("start", "limits.service").rc == 0
    r = sm.systemctl("set-property", "--runtime", "limits.service", "MemoryMax=48M", "CPUWeight=300",
                     "CPUQuota=35%", "TasksMax=infinity")
    assert r.rc == 0, r.err
    assert cgroup_file(sm, "limits.service", "memory.max") == str(48 << 20)
    assert cgroup_file(sm, "limits.service", "cpu.weight") == "300"
    assert cgroup_file(sm, "limits.service", "cpu.max") == "35000 100000"
    assert cgroup_file(sm, "limits.service", "pids.max") == "max"
    assert sm.systemctl("stop", "limits.service").rc == 0


def test_beyond_memory_max_is_an_oom_kill(sm: Manager) -> None:
    assert sm.systemctl("start", "hog.service").rc != 0
    wait_for(lambda: show(sm, "hog.service", "ActiveState")["ActiveState"] == "failed", "hog.service failed")
    props = show(sm, "hog.service", "Result", "OOMPolicy")
    assert props == {"Result": "oom-kill", "OOMPolicy": "stop"}
    status = sm.systemctl("status", "hog.service")
    assert "(Result: oom-kill)" in status.out, status.out
    assert sm.systemctl("reset-failed", "hog.service").rc == 0
