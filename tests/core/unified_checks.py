"""Resource control in the unified layout (every controller on cgroup2, controllers enabled down
the slice tree), as systemd 252 applies it there. These checks need such a host: this machine's
controllers sit on v1 hierarchies, so tests/vm/test_unified_vm.py runs this file inside a VM booted
with cgroup_no_v1=all (the name keeps it out of the host's own collection). The VM's root cgroup
plays the delegating parent: its subtree_control hands the controllers to the test managers.
"""

from __future__ import annotations

import os
import pwd
import time
from pathlib import Path

import pytest
from cgroup_layout import unified
from core_harness import DEVICE_CHECKS, Harness, start_device_policy_units

from sysmasterd.core.states import JobResult

pytestmark = pytest.mark.skipif(not unified(), reason="needs the unified cgroup layout (run in the VM)")

HOG = "/usr/bin/python3 -c 'b = bytearray(256 << 20); print(len(b))'"


def hog_then(h: Harness, rest: str) -> str:
    """A shell main process whose child runs out of memory, then `rest` (`&`: at the same time)."""
    hog = h.script("hog.sh", "exec /usr/bin/python3 -c 'b = bytearray(256 << 20)'\n")
    return f"/bin/sh -c '{hog}{rest}'"


def unit_dir(h: Harness, unit: str) -> str:
    cgroups = h.manager.cgroups
    assert cgroups is not None and cgroups.root.mode == "v2" and not cgroups.root.v1
    return cgroups.unit_dir(unit)


def read(h: Harness, unit: str, name: str) -> str:
    with open(os.path.join(unit_dir(h, unit), name)) as f:
        return f.read().strip()


def enabled_above(h: Harness, unit: str) -> list[set[str]]:
    """The controllers each cgroup from the manager's subtree down to the unit's parent enables."""
    cgroups = h.manager.cgroups
    assert cgroups is not None
    parts = cgroups.path_of(unit).split("/")
    found = []
    for depth in range(len(parts)):
        with open(os.path.join(cgroups.root.unit_dir("/".join(parts[:depth])), "cgroup.subtree_control")) as f:
            found.append(set(f.read().split()))
    return found


def test_cgroup2_files_follow_the_settings(h: Harness) -> None:
    h.write("limits.service", """
        [Unit]
        DefaultDependencies=no
        [Service]
        ExecStart=/bin/sleep 60
        MemoryMax=64M
        MemoryHigh=48M
        MemoryLow=8M
        MemoryMin=4M
        MemorySwapMax=0
        TasksMax=17
        CPUWeight=50
        CPUQuota=20%
        IOWeight=200
        AllowedCPUs=0
    """)
    assert h.start("limits.service") is JobResult.DONE
    assert read(h, "limits.service", "memory.max") == str(64 << 20)
    assert read(h, "limits.service", "memory.high") == str(48 << 20)
    assert read(h, "limits.service", "memory.low") == str(8 << 20)
    assert read(h, "limits.service", "memory.min") == str(4 << 20)
    assert read(h, "limits.service", "memory.swap.max") == "0"
    assert read(h, "limits.service", "memory.oom.group") == "0"
    assert read(h, "limits.service", "pids.max") == "17"
    assert read(h, "limits.service", "cpu.weight") == "50"
    assert read(h, "limits.service", "cpu.max") == "20000 100000"
    assert read(h, "limits.service", "cpuset.cpus") == "0"
    if os.path.exists(os.path.join(unit_dir(h, "limits.service"), "io.weight")):
        assert "default 200" in read(h, "limits.service", "io.weight")
    # every level above the unit hands it the controllers it needs
    for level in enabled_above(h, "limits.service"):
        assert {"memory", "pids", "cpu", "cpuset", "io"} <= level, level
    pid = h.unit("limits.service").impl.main_pid()  # type: ignore[union-attr]
    cgroups = h.manager.cgroups
    assert cgroups is not None
    expected = f"0::{cgroups.unit_path('limits.service')}\n"
    h.wait(lambda: Path(f"/proc/{pid}/cgroup").read_text() == expected, 5, f"{expected!r} in /proc/{pid}/cgroup")
    assert h.stop("limits.service") is JobResult.DONE
    assert not os.path.exists(unit_dir(h, "limits.service"))


def test_defaults_account_memory_and_tasks_only(h: Harness) -> None:
    h.write("plain.service", "[Unit]\nDefaultDependencies=no\n[Service]\nExecStart=/bin/sleep 60\n")
    assert h.start("plain.service") is JobResult.DONE
    assert read(h, "plain.service", "memory.max") == "max"
    assert read(h, "plain.service", "pids.max") == "max"
    above = enabled_above(h, "plain.service")
    assert all({"memory", "pids"} <= level and "cpu" not in level for level in above), above
    # counted once the child has joined (Type=simple's job is done at fork)
    h.wait(lambda: int(read(h, "plain.service", "memory.current")) > 0, 30, "memory counted")
    h.stop("plain.service")


def test_startup_weights_give_way_once_startup_finished(h: Harness) -> None:
    from sysmasterd.core.clock import DualTimestamp

    h.write("weights.service", "[Unit]\nDefaultDependencies=no\n[Service]\nExecStart=/bin/sleep 60\n"
                               "StartupCPUWeight=50\nCPUWeight=200\n")
    m = h.manager
    m.startup_finished_emitted, m.ts["startup"] = False, None
    assert h.start("weights.service") is JobResult.DONE
    assert read(h, "weights.service", "cpu.weight") == "50"
    m.ts["startup"] = DualTimestamp.now()
    m.engine.check_idle()
    assert m.startup_finished_emitted
    assert read(h, "weights.service", "cpu.weight") == "200"
    h.stop("weights.service")


def result(h: Harness, unit: str) -> str:
    return h.unit(unit).impl.result()  # type: ignore[union-attr]


def test_oom_kill_of_the_main_process_fails_the_service(h: Harness) -> None:
    """OOMPolicy=stop (the default): the kernel's kill is seen in memory.events, Result=oom-kill."""
    h.write("hog.service", f"[Unit]\nDefaultDependencies=no\n[Service]\nType=oneshot\nExecStart={HOG}\n"
                           "MemoryMax=32M\nMemorySwapMax=0\n")
    assert h.start("hog.service", timeout=60) is JobResult.FAILED
    assert h.state("hog.service") == ("failed", "failed")
    assert result(h, "hog.service") == "oom-kill"
    assert any("killed by the OOM killer" in line for line in h.unit("hog.service").log_lines)


def test_oom_kill_of_a_child_stops_a_running_service(h: Harness) -> None:
    """A process the manager did not start (a child of the main process) is killed: the manager
    hears of it only through memory.events, and OOMPolicy=stop stops the whole service."""
    h.write("parent.service", f"[Unit]\nDefaultDependencies=no\n[Service]\nExecStart={hog_then(h, '; sleep 60')}\n"
                              "MemoryMax=32M\nMemorySwapMax=0\n")
    assert h.start("parent.service") is JobResult.DONE
    h.wait(lambda: h.state("parent.service")[0] == "failed", 60, "the service stopped by the OOM kill")
    assert result(h, "parent.service") == "oom-kill"


def test_oom_policy_continue_and_kill(h: Harness) -> None:
    h.write("tolerant.service", f"[Unit]\nDefaultDependencies=no\n[Service]\nExecStart={hog_then(h, '; sleep 60')}\n"
                                "MemoryMax=32M\nMemorySwapMax=0\nOOMPolicy=continue\n")
    assert h.start("tolerant.service") is JobResult.DONE
    h.wait(lambda: any("killed by the OOM killer" in line for line in h.unit("tolerant.service").log_lines),
           60, "the OOM kill")
    time.sleep(0.5)
    assert h.state("tolerant.service") == ("active", "running")
    h.stop("tolerant.service")
    # kill: the kernel takes the whole cgroup (memory.oom.group), the shell included
    h.write("group.service", f"[Unit]\nDefaultDependencies=no\n[Service]\nExecStart={hog_then(h, ' & sleep 60')}\n"
                             "MemoryMax=32M\nMemorySwapMax=0\nOOMPolicy=kill\n")
    assert h.start("group.service") is JobResult.DONE
    h.wait(lambda: h.state("group.service")[0] == "failed", 60, "the group killed")
    assert result(h, "group.service") == "oom-kill"


def test_device_policy_is_a_bpf_device_program(h: Harness) -> None:
    start_device_policy_units(h, "")
    h.write("denied.service", DEVICE_CHECKS.format(policy="strict", script="head -c1 /dev/zero >/dev/null"))
    assert h.start("denied.service") is JobResult.FAILED


def test_delegate_hands_over_the_subtree(h: Harness) -> None:
    """Delegate=yes with User=: the user may make sub-cgroups, move its processes there and
    enable the delegated controllers for them."""
    script = ("/bin/sh -c 'd=/sys/fs/cgroup$(sed -n \"s/^0:://p\" /proc/self/cgroup) && mkdir $d/sub && "
              "echo $$$$ > $d/sub/cgroup.procs && echo +memory +pids > $d/cgroup.subtree_control && "
              "test -e $d/sub/memory.max'")
    h.write("own.service", "[Unit]\nDefaultDependencies=no\n[Service]\nType=oneshot\nUser=nobody\n"
                           f"WorkingDirectory=/\nRemainAfterExit=yes\nDelegate=yes\nExecStart={script}\n")
    assert h.start("own.service") is JobResult.DONE
    nobody = pwd.getpwnam("nobody").pw_uid
    d = unit_dir(h, "own.service")
    for name in ("", "cgroup.procs", "cgroup.subtree_control"):
        assert os.stat(os.path.join(d, name)).st_uid == nobody, name
    h.stop("own.service")
