"""pystemd (sd-bus underneath) driving sysmasterd: Unit objects (load, Start/Stop, properties with
their wire types), Manager methods, and pystemd.run's transient services with the properties it
passes (ExecStart as a(sasb), Environment, User, WorkingDirectory, RemainAfterExit, CollectMode).

Both scopes, each manager in its own namespace (bus_harness) with its bus on an abstract socket the
test process reaches: the user manager through pystemd's custom-address bus (DBusAddress), the
system manager through its default system bus, sd_bus_open_system(), which takes
DBUS_SYSTEM_BUS_ADDRESS from the environment.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

import pystemd.run  # type: ignore[import-untyped]
import pytest
from bus_harness import Manager, make_manager, wait_for
from pystemd.dbusexc import DBusNoSuchUnitError  # type: ignore[import-untyped]
from pystemd.dbuslib import DBus, DBusAddress  # type: ignore[import-untyped]
from pystemd.exceptions import PystemdRunError  # type: ignore[import-untyped]
from pystemd.systemd1 import Manager as SDManager  # type: ignore[import-untyped]
from pystemd.systemd1 import Unit

pytestmark = pytest.mark.root

UNITS = {
    # What a system service's default dependencies pull in.
    "sysinit.target": "[Unit]\nDescription=System Initialization\n",
    "shutdown.target": "[Unit]\nDescription=System Shutdown\nDefaultDependencies=no\n",
    "web.service": "[Unit]\nDescription=Pretend web server\n[Service]\nExecStart=/bin/sleep 1000\n",
}


@pytest.fixture(scope="module", params=["user", "system"])
def m(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Manager]:
    for manager in make_manager(tmp_path_factory.mktemp(f"pystemd-{request.param}"), request.param, UNITS):
        # Where pystemd's default buses (sd_bus_open_user/_system) look.
        with pytest.MonkeyPatch.context() as env:
            key = "DBUS_SESSION_BUS_ADDRESS" if manager.scope == "user" else "DBUS_SYSTEM_BUS_ADDRESS"
            env.setenv(key, manager.bus_address)
            yield manager


@pytest.fixture()
def bus(m: Manager) -> Iterator[DBus]:
    """A bus object for pystemd's Unit and Manager: a custom address for the user manager, the
    default system bus for the system one."""
    with DBusAddress(m.bus_address.encode()) if m.scope == "user" else DBus() as connection:
        yield connection


@pytest.fixture()
def subscribed(bus: DBus) -> DBus:
    """pystemd.run(wait=True) watches its unit's PropertiesChanged as a bus monitor, without
    subscribing: systemd sends those to the bus only while some client is subscribed (or holds a
    reference on the unit), as a running system's logind always is. This client stands in for it."""
    SDManager(bus=bus, _autoload=True).Manager.Subscribe()
    return bus


@contextmanager
def deadline(seconds: int) -> Iterator[None]:
    """pystemd.run(wait=True) waits without a timeout for the unit's PropertiesChanged: a daemon
    that never sends it would hang the test run, so an alarm ends the wait instead."""

    def expired(signum: int, frame: FrameType | None) -> None:
        raise TimeoutError(f"no answer within {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def run(m: Manager, cmd: list[bytes], **options: object) -> Unit:
    """pystemd.run against `m` (user_mode, as `systemd-run --user`, defaults to "not root")."""
    with deadline(10):
        return pystemd.run(cmd, user_mode=m.scope == "user", **options)


def test_unit_start_stop_and_properties(m: Manager, bus: DBus) -> None:
    unit = Unit(b"web.service", bus=bus, _autoload=True)
    assert unit.Unit.Id == b"web.service"
    assert unit.Unit.LoadState == b"loaded"
    assert unit.Unit.ActiveState == b"inactive"
    job = unit.Unit.Start(b"replace")
    assert job.startswith(b"/org/freedesktop/systemd1/job/")
    wait_for(lambda: unit.Unit.SubState == b"running", "web.service running")
    main_pid = unit.Service.MainPID
    assert isinstance(main_pid, int) and main_pid > 0
    assert m.systemctl("show", "-P", "MainPID", "web.service").out.strip() == str(main_pid)
    # ExecStart is a(sasbttttuii): path, argv, ignore-failure, then the run's timestamps and status.
    [(path, argv, ignore, *_, pid, code, status)] = unit.Service.ExecStart
    assert (path, argv, ignore, pid, code, status) == (b"/bin/sleep", [b"/bin/sleep", b"1000"], False, main_pid, 0, 0)
    assert unit.Unit.Stop(b"replace").startswith(b"/org/freedesktop/systemd1/job/")
    wait_for(lambda: unit.Unit.ActiveState == b"inactive", "web.service stopped")
    assert unit.Service.MainPID == 0


def test_manager_methods(m: Manager, bus: DBus) -> None:
    manager = SDManager(bus=bus, _autoload=True)
    web = Unit(b"web.service").path
    assert manager.Manager.LoadUnit(b"web.service") == web
    assert manager.Manager.StartUnit(b"web.service", b"replace").startswith(b"/org/freedesktop/systemd1/job/")
    wait_for(lambda: Unit(b"web.service", bus=bus, _autoload=True).Unit.SubState == b"running", "running")
    assert manager.Manager.GetUnit(b"web.service") == web
    rows = {row[0]: row for row in manager.Manager.ListUnits()}
    # (name, description, load, active, sub, following, path, job id, job type, job path)
    assert rows[b"web.service"] == (b"web.service", b"Pretend web server", b"loaded", b"active", b"running", b"",
                                    web, 0, b"", b"/")
    assert b"default.target" in rows
    files = dict(manager.Manager.ListUnitFiles())
    assert any(p.endswith(b"/web.service") for p in files)
    with pytest.raises(DBusNoSuchUnitError, match=r"Unit never-heard-of\.service not loaded\."):
        manager.Manager.GetUnit(b"never-heard-of.service")
    manager.Manager.StopUnit(b"web.service", b"replace")
    wait_for(lambda: Unit(b"web.service", bus=bus, _autoload=True).Unit.ActiveState == b"inactive", "stopped")


def test_run_waits_for_the_result(m: Manager, subscribed: DBus) -> None:
    cmd = [b"/bin/sh", b"-c", b'test "$GREETING" = "hello world" && test "$PWD" = /tmp']
    unit = run(m, cmd, env={"GREETING": "hello world"}, cwd="/tmp", wait=True, raise_on_fail=True,
               remain_after_exit=True)
    [(path, argv, *_)] = unit.Service.ExecStart
    assert (path, argv[:2]) == (b"/bin/sh", cmd[:2])  # the script's `$`: test_exec_start_as_passed
    assert unit.Unit.ActiveState == b"active" and unit.Unit.SubState == b"exited"
    assert unit.Service.ExecMainStatus == 0
    assert unit.Service.Environment == [b"GREETING=hello world"]
    assert unit.Service.WorkingDirectory == b"/tmp"
    assert unit.Unit.Transient is True
    assert unit.Unit.Description == b"pystemd: " + unit.external_id
    unit.Unit.Stop(b"replace")
    wait_for(lambda: Unit(unit.external_id, bus=subscribed, _autoload=True).Unit.LoadState == b"not-found",
             "the stopped transient unit collected")


def test_exec_start_as_passed(m: Manager) -> None:
    """systemd keeps the command it was sent (bus_set_transient_exec_command) and shows it so."""
    cmd = [b"/bin/echo", b"$HOME"]
    unit = run(m, cmd, remain_after_exit=True)
    try:
        assert unit.Service.ExecStart[0][:2] == (b"/bin/echo", cmd)
        wait_for(lambda: unit.Service.ExecMainStatus == 0 and unit.Unit.SubState == b"exited", "the echo")
    finally:
        unit.Unit.Stop(b"replace")


@pytest.mark.usefixtures("subscribed")
def test_run_failure_raises(m: Manager) -> None:
    with pytest.raises(PystemdRunError, match="exited with status 3"):
        run(m, [b"/bin/sh", b"-c", b"exit 3"], wait=True, raise_on_fail=True)


def test_run_collect(m: Manager, subscribed: DBus) -> None:
    unit = run(m, [b"/bin/false"], wait=True, collect=True)
    wait_for(lambda: Unit(unit.external_id, bus=subscribed, _autoload=True).Unit.LoadState == b"not-found",
             "the failed unit collected")


@pytest.mark.usefixtures("subscribed")
def test_run_as_another_user(m: Manager) -> None:
    if m.scope == "user":
        pytest.skip("a user manager runs its services as its own user")
    unit = run(m, [b"/bin/sh", b"-c", b'test "$(id -u)" = 65534'], user="nobody", wait=True, raise_on_fail=True,
               remain_after_exit=True)
    assert unit.Service.User == b"nobody"
    unit.Unit.Stop(b"replace")
