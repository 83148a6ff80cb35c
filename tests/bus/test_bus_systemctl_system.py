"""The real systemctl in system scope: as root it talks to /run/systemd/private (a tmpfs in the
test's mount namespace); with SYSTEMCTL_FORCE_BUS=1 it goes through a private system bus."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator

import pytest
from bus_harness import Manager, Result, make_manager, wait_for

UNITS = {
    "web.service": "[Unit]\nDescription=Pretend web server\n[Service]\nExecStart=/bin/sleep 1000\n",
    "broken.service": "[Unit]\nDescription=Broken\n[Service]\nType=oneshot\nExecStart=/bin/false\n",
    "multi-user.target": "[Unit]\nDescription=Multi-User System\n",
    "sysinit.target": "[Unit]\nDescription=System Initialization\n",
}


@pytest.fixture(scope="module")
def sm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Manager]:
    yield from make_manager(tmp_path_factory.mktemp("system"), "system", UNITS)


@pytest.mark.parametrize("force_bus", [False, True], ids=["private-socket", "system-bus"])
def test_start_status_stop(sm: Manager, force_bus: bool) -> None:
    assert sm.systemctl("start", "web.service", force_bus=force_bus).rc == 0
    status = sm.systemctl("status", "web.service", force_bus=force_bus)
    assert status.rc == 0
    assert status.out.startswith("● web.service - Pretend web server")
    assert re.search(r"Main PID: \d+", status.out)
    assert sm.systemctl("is-active", "web.service", force_bus=force_bus).out == "active\n"
    assert sm.systemctl("stop", "web.service", force_bus=force_bus).rc == 0
    assert sm.systemctl("is-active", "web.service", force_bus=force_bus).rc == 3


@pytest.mark.parametrize("force_bus", [False, True], ids=["private-socket", "system-bus"])
def test_errors_and_listing(sm: Manager, force_bus: bool) -> None:
    missing = sm.systemctl("start", "missing.service", force_bus=force_bus)
    assert (missing.rc, missing.err.strip()) == (5, "Failed to start missing.service: Unit missing.service not found.")
    failed = sm.systemctl("start", "broken.service", force_bus=force_bus)
    assert failed.rc == 1
    assert "Job for broken.service failed because the control process exited with error code." in failed.err
    assert "broken.service" in sm.systemctl("list-units", "--state=failed", force_bus=force_bus).out
    assert sm.systemctl("reset-failed", force_bus=force_bus).rc == 0
    assert sm.systemctl("is-failed", "broken.service", force_bus=force_bus).rc == 1


def _as_nobody(sm: Manager, *args: str) -> Result:
    env = {**sm.env, "SYSTEMCTL_FORCE_BUS": "1"}
    return sm.ns.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--",
                      "systemctl", "--no-ask-password", *args], env)


def test_polkit_decides_for_unprivileged_callers(sm: Manager) -> None:
    sm.ns.popen([sys.executable, "-m", "dbusmock", "--system", "--template", "polkitd"], sm.env,
                sm.root / "polkitd.log")
    wait_for(lambda: sm.ns.run(["busctl", f"--address={sm.bus_address}", "status", "org.freedesktop.PolicyKit1"],
                               sm.env).rc == 0, "polkitd mock")
    # Reading is open to everyone.
    assert _as_nobody(sm, "is-active", "web.service").out == "inactive\n"
    denied = _as_nobody(sm, "start", "web.service")
    assert denied.rc == 4
    assert "Access denied" in denied.err
    no_property = _as_nobody(sm, "set-property", "--runtime", "web.service", "CPUWeight=50")
    assert no_property.rc == 1 and "Access denied" in no_property.err
    allow = ["busctl", f"--address={sm.bus_address}", "call", "org.freedesktop.PolicyKit1",
             "/org/freedesktop/PolicyKit1/Authority", "org.freedesktop.DBus.Mock", "SetAllowed", "as", "1",
             "org.freedesktop.systemd1.manage-units"]
    assert sm.ns.run(allow, sm.env).rc == 0
    assert _as_nobody(sm, "start", "web.service").rc == 0
    assert sm.systemctl("is-active", "web.service").out == "active\n"
    other_action = _as_nobody(sm, "set-environment", "X=1")  # set-environment is not allowed
    assert other_action.rc == 1 and "Failed to set environment: Access denied" in other_action.err
    assert _as_nobody(sm, "set-property", "--runtime", "web.service", "CPUWeight=50").rc == 0  # manage-units
    assert sm.systemctl("show", "-P", "CPUWeight", "web.service").out == "50\n"
    assert sm.systemctl("stop", "web.service").rc == 0
    # Powering off takes root (systemd: CAP_SYS_BOOT), whatever polkit says.
    poweroff = _as_nobody(sm, "--force", "poweroff")
    assert poweroff.rc == 1 and "Access denied" in poweroff.err
    assert sm.systemctl("is-system-running").rc in (0, 1)  # still up


@pytest.mark.parametrize("unit", ["sys-devices-virtual-mem-null.device", "dev-null.device", "nosuch.device"])
def test_devctl_asks_the_manager_for_a_device_unit_as_udevadm_does(sm: Manager, unit: str) -> None:
    """As root, udevadm looks a .device unit's SysFSPath up on /run/systemd/private: devctl asks
    the same manager and prints the same answer."""
    real = sm.ns.run(["udevadm", "info", "-q", "path", unit], sm.env)
    ours = sm.ns.run([sys.executable, "-m", "sysmasterd.cli.devctl", "info", "-q", "path", unit], sm.env)
    assert (ours.rc, ours.out, ours.err) == (real.rc, real.out, real.err)
