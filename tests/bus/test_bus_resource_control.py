"""Resource control through the real systemctl against sysmasterd (system scope, private /run and
/etc/systemd in the test's namespace): `show` reports the settings, the unit's cgroups in the
controller hierarchies hold them (read back through /proc/PID/cgroup of its main process), and
`set-property` changes them at once on the running unit. A service that allocates beyond its
MemoryMax= is killed by the kernel's OOM killer (hybrid hosts: Result=signal, 9/KILL, as systemd 252
reports it there, having no memory.events on v1)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from bus_harness import Manager, make_manager, wait_for

from sysmasterd.core import cgroup_v1

V1 = cgroup_v1.detect("probe")
pytestmark = pytest.mark.skipif(not {"memory", "pids", "cpu"} <= set(V1),
                                reason="needs writable v1 memory, pids and cpu hierarchies (a hybrid host)")

HOG = "/usr/bin/python3 -c 'b = bytearray(256 << 20); print(len(b))'"
UNITS = {
    "limits.service": "[Unit]\nDefaultDependencies=no\n[Service]\nExecStart=/bin/sleep 1000\n"
                      "MemoryMax=64M\nMemoryHigh=48M\nTasksMax=23\nCPUWeight=50\nCPUQuota=20%\n",
    "hog.service": f"[Unit]\nDefaultDependencies=no\n[Service]\nType=oneshot\nExecStart={HOG}\nMemoryMax=32M\n",
}


@pytest.fixture(scope="module")
def sm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Manager]:
    yield from make_manager(tmp_path_factory.mktemp("resources"), "system", UNITS, config_dir=True)


def show(sm: Manager, unit: str, *props: str) -> dict[str, str]:
    r = sm.systemctl("show", unit, *(f"-p{p}" for p in props))
    assert r.rc == 0, r.err
    return dict(line.split("=", 1) for line in r.out.splitlines())


def cgroup_file(sm: Manager, pid: int, controller: str, name: str) -> str:
    """A file of the process's cgroup in a v1 controller hierarchy (the PID is the namespace's)."""
    for line in sm.ns.run(["cat", f"/proc/{pid}/cgroup"], sm.env).out.splitlines():
        _idx, controllers, path = line.split(":", 2)
        if controller in controllers.split(",") and path != "/":
            with open(f"{V1[controller].mount}{path}/{name}") as g:
                return g.read().strip()
    return ""


def test_show_and_cgroup_files(sm: Manager) -> None:
    assert sm.systemctl("start", "limits.service").rc == 0
    props = show(sm, "limits.service", "MemoryMax", "MemoryHigh", "TasksMax", "CPUWeight", "CPUQuotaPerSecUSec",
                 "MainPID")
    assert (props["MemoryMax"], props["MemoryHigh"], props["TasksMax"]) == (str(64 << 20), str(48 << 20), "23")
    assert (props["CPUWeight"], props["CPUQuotaPerSecUSec"]) == ("50", "200ms")
    pid = int(props["MainPID"])
    wait_for(lambda: cgroup_file(sm, pid, "memory", "memory.limit_in_bytes") == str(64 << 20),
             "the child in its cgroups")
    assert cgroup_file(sm, pid, "pids", "pids.max") == "23"
    assert cgroup_file(sm, pid, "cpu", "cpu.shares") == "512"
    assert cgroup_file(sm, pid, "cpu", "cpu.cfs_quota_us") == "20000"
    # Accounting from the controllers: the memory cgroup's usage, the pids cgroup's count.
    props = show(sm, "limits.service", "MemoryCurrent", "TasksCurrent")
    assert int(props["MemoryCurrent"]) > 0
    assert props["TasksCurrent"] == "1"


def test_set_property_applies_to_the_running_unit(sm: Manager) -> None:
    assert sm.systemctl("start", "limits.service").rc == 0
    pid = int(show(sm, "limits.service", "MainPID")["MainPID"])
    r = sm.systemctl("set-property", "--runtime", "limits.service", "MemoryMax=48M", "CPUWeight=300",
                     "CPUQuota=35%", "TasksMax=infinity")
    assert r.rc == 0, r.err
    assert cgroup_file(sm, pid, "memory", "memory.limit_in_bytes") == str(48 << 20)
    assert cgroup_file(sm, pid, "cpu", "cpu.shares") == "3072"
    assert cgroup_file(sm, pid, "cpu", "cpu.cfs_quota_us") == "35000"
    assert cgroup_file(sm, pid, "pids", "pids.max") == "max"
    props = show(sm, "limits.service", "MemoryMax", "CPUWeight", "CPUQuotaPerSecUSec", "TasksMax")
    assert props == {"MemoryMax": str(48 << 20), "CPUWeight": "300", "CPUQuotaPerSecUSec": "350ms",
                     "TasksMax": "infinity"}
    cat = sm.systemctl("cat", "limits.service").out
    assert "CPUQuota=35%" in cat and "MemoryMax=50331648" in cat
    # Survives daemon-reload: the drop-ins are read back, the running unit keeps the values.
    assert sm.systemctl("daemon-reload").rc == 0
    assert show(sm, "limits.service", "CPUWeight")["CPUWeight"] == "300"
    assert cgroup_file(sm, pid, "cpu", "cpu.shares") == "3072"
    assert sm.systemctl("stop", "limits.service").rc == 0


def test_beyond_memory_max_is_oom_killed(sm: Manager) -> None:
    r = sm.systemctl("start", "hog.service")
    assert r.rc != 0
    props = show(sm, "hog.service", "Result", "ExecMainCode", "ExecMainStatus", "ActiveState")
    assert props["ActiveState"] == "failed"
    # systemd 252 says oom-kill where it reads memory.events (cgroup2), else the plain KILL.
    assert (props["Result"], props["ExecMainStatus"]) in (("oom-kill", "9"), ("signal", "9"))
    assert sm.systemctl("reset-failed", "hog.service").rc == 0
