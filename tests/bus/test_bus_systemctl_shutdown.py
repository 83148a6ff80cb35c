"""Shutdown through the real systemctl, against a system manager without init (so the daemon
exits where init would end the machine): `systemctl --force poweroff` calls PowerOff() directly;
plain `systemctl poweroff` starts poweroff.target, whose service calls PowerOff() as
systemd-poweroff.service does."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from bus_harness import Manager, make_manager, wait_for

UNITS = {
    "sysinit.target": "[Unit]\nDescription=System Initialization\n",
    "long.service": "[Unit]\nDescription=Long runner\n[Service]\nExecStart=/bin/sleep 1000\n",
    "poweroff.target": "[Unit]\nDescription=Power-Off\nRequires=do-poweroff.service\nAfter=do-poweroff.service\n",
    "do-poweroff.service": (
        "[Unit]\nDescription=Power-Off\nDefaultDependencies=no\n"
        "[Service]\nType=oneshot\nExecStart=/usr/bin/systemctl --force poweroff\n"
    ),
}


@pytest.fixture
def sm(tmp_path: Path) -> Iterator[Manager]:
    yield from make_manager(tmp_path, "system", UNITS)


def wait_for_exit(sm: Manager) -> None:
    wait_for(lambda: sm.proc is not None and sm.proc.poll() is not None, "daemon exit", 20)
    assert sm.proc is not None and sm.proc.returncode == 0
    assert "Poweroff requested: stopping all units." in sm.log


def test_force_poweroff_stops_units_and_ends_the_daemon(sm: Manager) -> None:
    assert sm.systemctl("start", "long.service").rc == 0
    user = sm.systemctl("--user", "--force", "poweroff")
    assert user.rc == 1 and "Bad action for --user mode." in user.err
    r = sm.systemctl("--force", "poweroff")
    assert r.rc == 0, r.err
    wait_for_exit(sm)
    assert "Stopped Long runner." in sm.log


def test_poweroff_goes_through_poweroff_target(sm: Manager) -> None:
    r = sm.systemctl("poweroff")
    assert r.rc == 0, r.err
    wait_for_exit(sm)  # "Poweroff requested": the target's service reached PowerOff()


def test_sctl_poweroff_stops_units_and_ends_the_daemon(sm: Manager) -> None:
    assert sm.sctl("start", "long.service").rc == 0
    r = sm.sctl("poweroff")
    assert r.rc == 0, r.err
    wait_for_exit(sm)
    assert "Stopped Long runner." in sm.log
