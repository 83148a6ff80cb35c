"""The unified cgroup layout, which this host cannot show (its controllers sit on v1 hierarchies),
tried in a VM of this host booted with every controller on cgroup2 (vm_harness.py):

- the resource-control checks of the core (tests/core/unified_checks.py) and through the real
  systemctl (tests/bus/unified_bus_checks.py) run there under pytest, with the VM's root cgroup
  delegating the controllers to the test managers;
- a boot with sysmaster-init as PID 1 and the core laying out the tree from the root cgroup, the
  way systemd does on a unified host: controllers enabled from the root down, unit settings in the
  cgroup2 files, Result=oom-kill from memory.events, a device program, read back with the real
  systemctl; then `systemctl poweroff` ends the VM.

Each VM boots in about 10 s under software emulation; the checks inside take a few minutes.
"""

from __future__ import annotations

import os
import shlex
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import vm_harness

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
VENV_BIN = Path(sys.executable).parent

pytestmark = [
    pytest.mark.root,
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (qemu's 9p passthrough of the host's root)"),
]


@pytest.fixture(scope="module", autouse=True)
def vm_available() -> None:
    why = vm_harness.missing()
    if why is not None:
        # CI installs the VM's parts (scripts/test.sh); a silent skip there would hide the layout
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)


def explain(result: vm_harness.Result, *logs: str) -> str:
    parts = [f"--- {name} ---\n{result.read(name)[-6000:]}" for name in logs]
    return "\n".join([*parts, f"--- console ---\n{result.console[-3000:]}"])


def test_resource_control_checks_pass_in_the_unified_layout(tmp_path: Path) -> None:
    checks = [str(ROOT / "tests" / d / f) for d, f in (("core", "unified_checks.py"), ("bus", "unified_bus_checks.py"))]
    command = (f"cd {shlex.quote(str(ROOT))} && ip link set lo up && export SYSMASTER_TEST_TIMEOUT_SCALE=6 && "
               f"{shlex.quote(PYTHON)} -m pytest -p no:cacheprovider -q -ra {shlex.join(checks)} "
               "--junitxml=/mnt/junit.xml")
    # as on a host booted by a service manager: the controllers handed down, /run/systemd there
    stage2 = ("echo '+cpu +cpuset +io +memory +pids' > /new/sys/fs/cgroup/cgroup.subtree_control\n"
              "mkdir -p /new/run/systemd\n"
              + vm_harness.command(f"({command}) > /mnt/pytest.log 2>&1"))
    result = vm_harness.run(stage2, tmp_path / "out", timeout=1200)
    assert not result.timed_out, explain(result, "pytest.log")
    assert result.read("rc").strip() == "0", explain(result, "pytest.log")
    suite = ET.fromstring(result.read("junit.xml")).find("testsuite")
    assert suite is not None
    counts = {k: int(suite.get(k, "0")) for k in ("tests", "failures", "errors", "skipped")}
    assert counts["tests"] >= 11 and counts["failures"] == counts["errors"] == counts["skipped"] == 0, (
        counts, explain(result, "pytest.log"))


UNITS = {
    "vmcheck.target": "[Unit]\nDefaultDependencies=no\nWants=limits.service hog.service devices.service "
                      "vmcheck.service\n",
    "limits.service": "[Unit]\nDefaultDependencies=no\n[Service]\nExecStart=/bin/sleep infinity\n"
                      "MemoryMax=64M\nTasksMax=23\nCPUWeight=50\nCPUQuota=20%\n",
    "hog.service": "[Unit]\nDefaultDependencies=no\n[Service]\nType=oneshot\nMemoryMax=32M\nMemorySwapMax=0\n"
                   "ExecStart=/usr/bin/python3 -c 'b = bytearray(256 << 20)'\n",
    "devices.service": "[Unit]\nDefaultDependencies=no\n[Service]\nType=oneshot\nRemainAfterExit=yes\n"
                       "DevicePolicy=strict\nDeviceAllow=/dev/null rw\n"
                       "ExecStart=/bin/sh -c 'echo x >/dev/null && ! head -c1 /dev/zero >/dev/null 2>&1'\n",
    # Reads back what the boot made, then powers off: its output is the test's evidence.
    "vmcheck.service": "[Unit]\nDefaultDependencies=no\nAfter=limits.service hog.service devices.service\n"
                       "[Service]\nType=oneshot\nExecStart=/bin/sh /etc/vmcheck.sh\n",
}

CHECK_SCRIPT = """
exec > /mnt/boot.txt 2>&1
echo "pid1=$(cat /proc/1/cmdline | tr '\\0' ' ')"
echo "root_subtree=$(cat /sys/fs/cgroup/cgroup.subtree_control)"
echo "system_subtree=$(cat /sys/fs/cgroup/system.slice/cgroup.subtree_control)"
echo "init_scope=$(cat /sys/fs/cgroup/init.scope/cgroup.procs | wc -l)"
for f in memory.max pids.max cpu.weight cpu.max; do
    echo "limits.$f=$(cat /sys/fs/cgroup/system.slice/limits.service/$f)"
done
systemctl show limits.service -p ControlGroup -p MemoryMax -p TasksMax -p CPUWeight -p ActiveState
systemctl show limits.service -p MemoryCurrent -p TasksCurrent | sed 's/=[1-9][0-9]*$/=positive/'
echo "hog=$(systemctl show hog.service -p Result --value) $(systemctl show hog.service -p ActiveState --value)"
echo "devices=$(systemctl is-active devices.service)"
systemctl status hog.service --no-pager | grep -o 'Result: oom-kill' | head -1
echo "checked"
systemctl poweroff
"""


def test_a_unified_boot_under_sysmaster_init(tmp_path: Path) -> None:
    # this host's root marks a container (/.dockerenv); the VM booted from a copy of it is none
    lines = ["rm -f /new/.dockerenv", "mkdir -p /new/etc/systemd/system"]
    for name, text in UNITS.items():
        lines.append(f"printf %s {shlex.quote(text)} > /new/etc/systemd/system/{name}")
    lines.append(f"printf %s {shlex.quote(CHECK_SCRIPT)} > /new/etc/vmcheck.sh")
    init = shlex.quote(str(VENV_BIN / "sysmaster-init"))
    lines.append(f"exec switch_root /new {init} -- --system > /new/mnt/init.log 2>&1")
    # the unit to boot comes from the kernel command line, as an admin's boot loader gives it
    result = vm_harness.run("\n".join(lines) + "\n", tmp_path / "out", timeout=900,
                            cmdline="systemd.unit=vmcheck.target")
    report = result.read("boot.txt")
    assert not result.timed_out, explain(result, "boot.txt", "init.log")
    assert "checked" in report, explain(result, "boot.txt", "init.log")
    values = dict(line.split("=", 1) for line in report.splitlines() if "=" in line)
    assert "sysmaster-init" in values["pid1"]
    # the manager enabled the controllers from the root down, as systemd does on such a host
    assert {"memory", "pids", "cpu"} <= set(values["root_subtree"].split()), report
    assert {"memory", "pids", "cpu"} <= set(values["system_subtree"].split()), report
    assert int(values["init_scope"]) >= 1, report
    assert values["limits.memory.max"] == str(64 << 20), report
    assert values["limits.pids.max"] == "23", report
    assert values["limits.cpu.weight"] == "50", report
    assert values["limits.cpu.max"] == "20000 100000", report
    assert values["ControlGroup"] == "/system.slice/limits.service", report
    assert (values["MemoryMax"], values["TasksMax"], values["CPUWeight"]) == (str(64 << 20), "23", "50"), report
    assert values["ActiveState"] == "active", report
    assert (values["MemoryCurrent"], values["TasksCurrent"]) == ("positive", "positive"), report
    assert values["hog"] == "oom-kill failed", report
    assert "Result: oom-kill" in report, report
    assert values["devices"] == "active", report
    assert "reboot: Power down" in result.console, explain(result, "init.log")
