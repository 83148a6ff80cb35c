"""Resource control applied to the unit's cgroups as systemd 252 does in this host's layout: on a
hybrid host the unit's cgroup is duplicated in the v1 controller hierarchies (below the test
manager's own cgroup there) with the v1 files written; the files are read back. Every cgroup the
manager made goes with it."""

from __future__ import annotations

import os
import pwd
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from core_harness import DEVICE_CHECKS, Harness, start_device_policy_units

from sysmasterd.core import cgroup_apply, cgroup_v1
from sysmasterd.core.states import JobResult

HIERARCHIES = cgroup_v1.detect("probe")
pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (cgroups)"),
    pytest.mark.skipif(not {"memory", "pids", "cpu"} <= set(HIERARCHIES),
                       reason="no writable v1 memory/pids/cpu hierarchies (not a hybrid host)"),
]


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(tmp_path)
    try:
        yield harness
    finally:
        bases = []
        if harness.m is not None and harness.m.cgroups is not None:
            bases = [hier.dir("") for hier in harness.m.cgroups.root.v1.values()]
        harness.close()
        assert [b for b in bases if os.path.exists(b)] == []


def read(h: Harness, unit: str, controller: str, name: str) -> str:
    d = h.manager.cgroups.controller_dir(unit, controller)  # type: ignore[union-attr]
    assert d is not None, f"{unit} has no {controller} cgroup"
    with open(os.path.join(d, name)) as f:
        return f.read().strip()


def test_v1_files_follow_the_settings(h: Harness) -> None:
    h.write("limits.service", """
        [Unit]
        DefaultDependencies=no
        [Service]
        ExecStart=/bin/sleep 60
        MemoryMax=64M
        TasksMax=17
        CPUWeight=50
        CPUQuota=20%
        IOWeight=200
        IOReadBandwidthMax=/ 1M
    """)
    assert h.start("limits.service") is JobResult.DONE
    pid = h.unit("limits.service").impl.main_pid()  # type: ignore[union-attr]
    assert read(h, "limits.service", "memory", "memory.limit_in_bytes") == str(64 << 20)
    assert read(h, "limits.service", "pids", "pids.max") == "17"
    assert read(h, "limits.service", "cpu", "cpu.shares") == "512"
    assert read(h, "limits.service", "cpu", "cpu.cfs_period_us") == "100000"
    assert read(h, "limits.service", "cpu", "cpu.cfs_quota_us") == "20000"
    if "blkio" in HIERARCHIES:
        d = h.manager.cgroups.controller_dir("limits.service", "blkio")  # type: ignore[union-attr]
        assert d is not None
        if os.path.exists(os.path.join(d, "blkio.weight")):  # CFQ kernels only
            assert read(h, "limits.service", "blkio", "blkio.weight") == "1000"
        dev = cgroup_apply.block_device("/")
        if dev is not None:
            assert read(h, "limits.service", "blkio", "blkio.throttle.read_bps_device") == f"{dev[0]}:{dev[1]} 1000000"
    # The process is in each of them, at the unit's path below the manager's subtree there
    # (once the child has set itself up: Type=simple's job is done at fork).
    cgroups = h.manager.cgroups
    assert cgroups is not None
    sub = cgroups.path_of("limits.service")
    expected = {c: cgroups.root.v1[c].base.rstrip("/") + "/" + sub for c in ("memory", "pids", "cpu", "cpuacct")}

    def joined() -> dict[str, str]:
        with open(f"/proc/{pid}/cgroup") as f:
            found = {c: line.rstrip("\n").split(":", 2)[2] for line in f for c in line.split(":")[1].split(",")}
        return {c: found.get(c, "") for c in expected}

    h.wait(lambda: joined() == expected, 5, f"{expected} in /proc/{pid}/cgroup")
    assert h.stop("limits.service") is JobResult.DONE
    assert h.manager.cgroups.controller_dir("limits.service", "memory") is None  # type: ignore[union-attr]


def test_defaults_are_accounting_only(h: Harness) -> None:
    h.write("plain.service", "[Unit]\nDefaultDependencies=no\n[Service]\nExecStart=/bin/sleep 60\n")
    assert h.start("plain.service") is JobResult.DONE
    # Memory and tasks are accounted (systemd's defaults); cpu is not needed.
    assert read(h, "plain.service", "memory", "memory.limit_in_bytes") == "9223372036854771712"
    assert read(h, "plain.service", "pids", "pids.max") == "max"
    assert h.manager.cgroups.controller_dir("plain.service", "cpu") is None  # type: ignore[union-attr]


def test_siblings_share_the_controllers_of_their_slice(h: Harness) -> None:
    """A unit bringing a weighted controller (cpu) to its slice brings it to its running siblings
    too, processes moved along, and to those that start later: no sibling's processes are left in
    the slice's own cpu cgroup to compete with whole groups (systemd's siblings mask on v1)."""
    plain = "[Unit]\nDefaultDependencies=no\n[Service]\nExecStart=/bin/sleep 60\n"
    h.write("early.service", plain)
    h.write("weighted.service", plain + "CPUWeight=50\n")
    h.write("late.service", plain)
    assert h.start("early.service") is JobResult.DONE
    cgroups = h.manager.cgroups
    assert cgroups is not None
    assert cgroups.controller_dir("early.service", "cpu") is None
    assert h.start("weighted.service") is JobResult.DONE
    assert read(h, "weighted.service", "cpu", "cpu.shares") == "512"
    assert read(h, "early.service", "cpu", "cpu.shares") == "1024"
    pid = h.unit("early.service").impl.main_pid()  # type: ignore[union-attr]
    with open(f"/proc/{pid}/cgroup") as f:
        cpu_path = next(line.split(":", 2)[2].strip() for line in f if "cpu" in line.split(":")[1].split(","))
    assert cpu_path.endswith("/" + cgroups.path_of("early.service")), cpu_path
    assert h.start("late.service") is JobResult.DONE
    assert read(h, "late.service", "cpu", "cpu.shares") == "1024"
    for name in ("early.service", "weighted.service", "late.service"):
        assert h.stop(name) is JobResult.DONE


def device_list(h: Harness, unit: str) -> set[str]:
    return set(read(h, unit, "devices", "devices.list").splitlines())


@pytest.mark.skipif("devices" not in HIERARCHIES, reason="no writable v1 devices hierarchy")
def test_device_policy_through_the_v1_devices_controller(h: Harness) -> None:
    # strict: nothing but the listed node; /dev/zero cannot even be opened.
    h.write("strict.service", DEVICE_CHECKS.format(
        policy="strict", script="echo x >/dev/null && ! head -c1 /dev/zero >/dev/null 2>&1"))
    assert h.start("strict.service") is JobResult.DONE
    assert device_list(h, "strict.service") == {"c 1:3 rw"}
    # closed: the static devices too (/dev/zero among them), but not /dev/kmsg.
    h.write("closed.service", DEVICE_CHECKS.format(
        policy="closed",
        script="echo x >/dev/null && head -c1 /dev/zero >/dev/null && ! head -c1 /dev/kmsg 2>/dev/null"))
    assert h.start("closed.service") is JobResult.DONE
    listed = device_list(h, "closed.service")
    assert {"c 1:3 rwm", "c 1:5 rwm", "c 5:2 rwm", "c 136:* rw"} <= listed
    assert not any(line.startswith("c 1:11 ") for line in listed)
    # PrivateDevices= closes the policy, ProtectClock= adds the RTC (char-rtc, when a driver has it).
    h.write("implied.service", "[Unit]\nDefaultDependencies=no\n[Service]\nType=oneshot\nRemainAfterExit=yes\n"
                               "PrivateDevices=yes\nProtectClock=yes\nExecStart=/bin/true\n")
    assert h.start("implied.service") is JobResult.DONE
    assert "c 1:5 rwm" in device_list(h, "implied.service")


def test_ip_access_lists_are_enforced_and_counted(h: Harness) -> None:
    """IPAddressDeny=any + IPAddressAllow=127.0.0.1 through the BPF programs on the unit's cgroup:
    a TCP exchange with 127.0.0.1 works, a datagram to 127.0.0.2 is refused (EPERM at egress);
    IPAccounting= counts what passed, both ways; processes outside the unit are not filtered."""
    if h.manager.cgroups is None or h.manager.cgroups.root.mode != "v2":
        pytest.skip("no cgroup2 hierarchy to attach programs to")
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        probe = (f"/usr/bin/python3 -c 'import socket,sys\\n"
                 f"s = socket.create_connection((\"127.0.0.1\", {port}), timeout=5)\\n"
                 f"s.sendall(b\"hello\"); s.close()\\n"
                 f"u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\\n"
                 f"try: u.sendto(b\"x\", (\"127.0.0.2\", {port}))\\n"
                 f"except PermissionError: sys.exit(0)\\n"
                 f"sys.exit(3)'")
        h.write("fw.service", "[Unit]\nDefaultDependencies=no\n[Service]\nType=oneshot\nRemainAfterExit=yes\n"
                              f"IPAddressDeny=any\nIPAddressAllow=127.0.0.1\nIPAccounting=yes\nExecStart={probe}\n")
        assert h.start("fw.service") is JobResult.DONE
        conn, _ = server.accept()
        with conn:
            assert conn.recv(16) == b"hello"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as outside:
        outside.sendto(b"x", ("127.0.0.2", port))  # the manager's own process is not in the unit
    egress, ingress = h.manager.cgroups.ip_counters("fw.service", False), h.manager.cgroups.ip_counters(
        "fw.service", True)
    assert egress is not None and ingress is not None
    assert egress[1] >= 3 and egress[0] > 5 and ingress[1] >= 2, (egress, ingress)  # SYN, data, FIN, ...
    h.stop("fw.service")
    assert h.manager.cgroups.ip_counters("fw.service", False) is None


def test_delegate_hands_the_cgroup_to_the_user(h: Harness) -> None:
    """Delegate=yes with User=: the unit's (non-root) user owns its cgroup and may make a
    sub-cgroup and move itself there; without Delegate= it may not."""
    if h.manager.cgroups is None or h.manager.cgroups.root.mode != "v2":
        pytest.skip("no cgroup2 hierarchy to track units on")
    mount = h.manager.cgroups.root.mount
    script = (f"/bin/sh -c 'd={mount}$(sed -n \"s/^0:://p\" /proc/self/cgroup) && mkdir $d/sub && "
              "echo $$$$ > $d/sub/cgroup.procs'")
    for name, delegate, result in (("own.service", "yes", JobResult.DONE), ("kept.service", "no", JobResult.FAILED)):
        h.write(name, "[Unit]\nDefaultDependencies=no\n[Service]\nType=oneshot\nUser=nobody\nWorkingDirectory=/\n"
                      f"RemainAfterExit=yes\nDelegate={delegate}\nExecStart={script}\n")
        assert h.start(name) is result, name
    # Delegate=yes hands over every controller: the v1 hierarchies' cgroups are the user's too.
    nobody = pwd.getpwnam("nobody").pw_uid
    for controller in ("memory", "pids", "cpu"):
        d = h.manager.cgroups.controller_dir("own.service", controller)
        assert d is not None and os.stat(d).st_uid == nobody, controller
        assert os.stat(os.path.join(d, "cgroup.procs")).st_uid == nobody
    h.stop("own.service")


def test_startup_weights_give_way_once_startup_finished(h: Harness) -> None:
    """StartupCPUWeight= holds while the manager starts up; when startup finishes (no job left),
    the unit's cgroup gets CPUWeight= (cpu.shares: weight x 1024 / 100)."""
    from sysmasterd.core.clock import DualTimestamp

    h.write("weights.service", "[Unit]\nDefaultDependencies=no\n[Service]\nExecStart=/bin/sleep 60\n"
                               "StartupCPUWeight=50\nCPUWeight=200\n")
    m = h.manager
    # still starting up: no start timestamp yet, so the job queue running empty does not end it
    m.startup_finished_emitted, m.ts["startup"] = False, None
    assert h.start("weights.service") is JobResult.DONE
    assert read(h, "weights.service", "cpu", "cpu.shares") == "512"
    m.ts["startup"] = DualTimestamp.now()
    m.engine.check_idle()
    assert m.startup_finished_emitted
    assert read(h, "weights.service", "cpu", "cpu.shares") == "2048"
    h.stop("weights.service")


def test_device_policy_without_a_v1_devices_controller_uses_a_bpf_program(h: Harness) -> None:
    """Where there is no v1 devices controller (the unified layout), DevicePolicy=/DeviceAllow=
    become a BPF device program on the unit's cgroup2 directory, as in systemd. Here the manager
    is told to use no v1 hierarchy, and the kernel enforces the program on this host too."""
    cgroups = h.manager.cgroups
    if cgroups is None or cgroups.root.mode != "v2":
        pytest.skip("no cgroup2 hierarchy to attach programs to")
    kept = dict(cgroups.root.v1)
    cgroups.root.v1.clear()
    try:
        start_device_policy_units(h, "bpf")
        h.write("bpfauto.service", DEVICE_CHECKS.format(policy="auto", script="head -c1 /dev/zero >/dev/null")
                .replace("DeviceAllow=/dev/null rw\n", ""))
        assert h.start("bpfauto.service") is JobResult.DONE
        for name in ("bpfstrict.service", "bpfclosed.service", "bpfauto.service"):
            h.stop(name)
    finally:
        cgroups.root.v1.update(kept)
