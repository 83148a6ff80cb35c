"""Device units of sysmasterd from devmaster's events and database, driven by the real systemctl.

Everything runs in dm_sandbox's private mount + network namespace: devmaster with the host's rules
(99-systemd.rules tags block and net devices `systemd`) plus a private rules file, and a system
sysmasterd whose only unit directory is the test's own (no host units) and whose private socket is
under the sandbox's tmpfs /run, where the real systemctl finds it. veth pairs live in the sandbox's
network namespace; loop devices are global, so each test attaches its own backing file and
detaches that device by name in a finally block.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import pytest
from dm_sandbox import Sandbox, sandbox

UNITS = "/run/smunits"
LOG = "/run/sysmasterd.log"
RULES = 'SUBSYSTEM=="net", KERNEL=="smveth0", ENV{SYSTEMD_WANTS}+="veth-wanted.service"\n'
UNIT_FILES = {
    "idle.target": "[Unit]\nDescription=Nothing\nDefaultDependencies=no\n",
    "veth-wanted.service": ("[Unit]\nDefaultDependencies=no\n[Service]\nType=oneshot\nRemainAfterExit=yes\n"
                            "ExecStart=/bin/true\n"),
    "bound.service": ("[Unit]\nDefaultDependencies=no\nBindsTo=sys-subsystem-net-devices-smveth0.device\n"
                      "After=sys-subsystem-net-devices-smveth0.device\n[Service]\nExecStart=/bin/sleep infinity\n"),
}


def wait_until(check: Callable[[], bool], what: str, box: Sandbox, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}\n--- sysmasterd log:\n{box.log(LOG)[-6000:]}")


class Manager:
    def __init__(self, box: Sandbox) -> None:
        self.box = box
        box.run(["mkdir", "-p", "/run/systemd/system", UNITS], check=True)
        for name, text in UNIT_FILES.items():
            box.write(f"{UNITS}/{name}", text)
        self.proc = box.popen(["sh", "-c", f"exec {sys.executable} -m sysmasterd.core.main --system "
                               f"--unit-path {UNITS} --runtime-dir /run/smrt --unit idle.target "
                               f"--bus-address unix:path=/run/no-bus --log-level debug --fresh 2>{LOG}"])
        wait_until(lambda: self.systemctl("show", "-p", "Version").returncode == 0, "sysmasterd", box)

    def systemctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.box.run(["systemctl", "--no-pager", *args], timeout=30)

    def state(self, unit: str) -> str:
        return self.systemctl("show", "-P", "ActiveState", unit).stdout.strip()

    def wait_state(self, unit: str, state: str) -> None:
        wait_until(lambda: self.state(unit) == state, f"{unit} {state}", self.box)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@contextlib.contextmanager
def manager(box: Sandbox) -> Iterator[Manager]:
    m = Manager(box)
    try:
        yield m
    finally:
        m.stop()


@contextlib.contextmanager
def loop_device(box: Sandbox, backing: str) -> Iterator[str]:
    box.run(["truncate", "-s", "1M", backing], check=True)
    dev = box.run(["losetup", "-f", "--show", backing], check=True).stdout.strip()
    try:
        yield dev
    finally:
        box.run(["losetup", "-d", dev])


@pytest.fixture(scope="module")
def devbox() -> Iterator[Sandbox]:
    with sandbox() as b:
        b.write("/run/udev/rules.d/00-smdevice.rules", RULES)
        b.start_devmaster()
        yield b


def test_veth_plugs_units_wants_and_binds(devbox: Sandbox) -> None:
    with manager(devbox) as m:
        # A start job on a device that is not there waits for it.
        r = m.systemctl("start", "--no-block", "bound.service")
        assert r.returncode == 0, r.stderr
        assert m.state("sys-subsystem-net-devices-smveth0.device") == "activating" or \
            m.systemctl("list-jobs").stdout.count("sys-subsystem-net-devices-smveth0.device") == 1
        devbox.run(["ip", "link", "add", "smveth0", "type", "veth", "peer", "name", "smveth1"], check=True)
        try:
            m.wait_state("sys-subsystem-net-devices-smveth0.device", "active")
            m.wait_state("bound.service", "active")
            status = m.systemctl("status", "sys-subsystem-net-devices-smveth0.device")
            assert "Active: active (plugged)" in status.stdout, status.stdout
            main = "sys-devices-virtual-net-smveth0.device"
            assert m.state(main) == "active"
            shown = m.systemctl("show", "-p", "SysFSPath", "-p", "SubState", main).stdout
            assert "SysFSPath=/sys/devices/virtual/net/smveth0" in shown and "SubState=plugged" in shown
            # SYSTEMD_WANTS from the rules file: a Wants= of the main unit, started on plug.
            m.wait_state("veth-wanted.service", "active")
            assert "veth-wanted.service" in m.systemctl("show", "-P", "Wants", main).stdout
            # The peer has no rule asking for anything, but is a device too.
            m.wait_state("sys-subsystem-net-devices-smveth1.device", "active")
        finally:
            devbox.run(["ip", "link", "del", "smveth0"])
        m.wait_state("sys-subsystem-net-devices-smveth0.device", "inactive")
        m.wait_state("bound.service", "inactive")
        assert m.state(main) == "inactive"
        log = devbox.log(LOG)
        assert "Unit is bound to inactive unit sys-subsystem-net-devices-smveth0.device" in log


def test_loop_device_units(devbox: Sandbox) -> None:
    with manager(devbox) as m, loop_device(devbox, "/run/smloop.img") as dev:
        name = dev.removeprefix("/dev/")
        node_unit = f"dev-{name}.device"
        sys_unit = f"sys-devices-virtual-block-{name}.device"
        m.wait_state(node_unit, "active")
        assert m.state(sys_unit) == "active"
        status = m.systemctl("status", node_unit).stdout
        assert f"{node_unit} - {dev}" in status and "(plugged)" in status, status
        assert m.systemctl("show", "-P", "SysFSPath", node_unit).stdout.strip() == f"/sys/devices/virtual/block/{name}"
        # The node's unit follows the sysfs one: list-units shows only the latter, unless --all.
        assert m.systemctl("show", "-P", "Following", node_unit).stdout.strip() == sys_unit
        listed = m.systemctl("list-units", "--type=device").stdout
        assert sys_unit in listed and node_unit not in listed, listed
        assert node_unit in m.systemctl("list-units", "--type=device", "--all").stdout
        devbox.write(f"{UNITS}/loop-bound.service",
                     f"[Unit]\nDefaultDependencies=no\nBindsTo={node_unit}\nAfter={node_unit}\n"
                     "[Service]\nExecStart=/bin/sleep infinity\n")
        r = m.systemctl("start", "loop-bound.service")
        assert r.returncode == 0, r.stderr
        devbox.run(["losetup", "-d", dev], check=True)
        m.wait_state(node_unit, "inactive")
        m.wait_state("loop-bound.service", "inactive")


def test_sysfs_enumeration_without_devmaster() -> None:
    with sandbox() as box:
        box.run(["ip", "link", "add", "smenum0", "type", "veth", "peer", "name", "smenum1"], check=True)
        with manager(box) as m:
            assert m.state("sys-subsystem-net-devices-smenum0.device") == "active"
            assert m.state("sys-devices-virtual-net-smenum1.device") == "active"
            assert m.state("sys-subsystem-net-devices-lo.device") == "inactive"
            assert "No udev database" in box.log(LOG)
