"""Resource control applied to the unit's cgroups as systemd 252 does in this host's layout: on a
hybrid host the unit's cgroup is duplicated in the v1 controller hierarchies (below the test
manager's own cgroup there) with the v1 files written; the files are read back. Every cgroup the
manager made goes with it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from core_harness import Harness

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


DEVICE_CHECKS = """
    [Unit]
    DefaultDependencies=no
    [Service]
    Type=oneshot
    RemainAfterExit=yes
    DevicePolicy={policy}
    DeviceAllow=/dev/null rw
    ExecStart=/bin/sh -c '{script}'
"""


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


def test_ip_access_lists_warn_once_without_cgroup_bpf(h: Harness, caplog: pytest.LogCaptureFixture) -> None:
    from sysmasterd.core import cgroup_devices

    cgroup_devices._warned.discard("ip")
    for name in ("ip1.service", "ip2.service"):
        h.write(name, "[Unit]\nDefaultDependencies=no\n[Service]\nType=oneshot\nRemainAfterExit=yes\n"
                      "IPAddressDeny=any\nIPAddressAllow=localhost\nIPAccounting=yes\nExecStart=/bin/true\n")
        assert h.start(name) is JobResult.DONE
    warnings = [r.getMessage() for r in caplog.records if "configures an IP firewall" in r.getMessage()]
    assert warnings == ["ip1.service: unit configures an IP firewall, but the local system does not support "
                        "BPF/cgroup firewalling.\n(This warning is only shown for the first unit using IP "
                        "firewalling.)"]
