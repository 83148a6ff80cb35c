"""Debian's own socket units activating the real daemons under a system-scope sysmasterd, in the
harness's PID + mount namespace with a private /run (so /run/systemd, /run/dbus and the journal
are the namespace's) and a private tmpfs copy of /dev (so Symlinks=/dev/log never touches the
host's /dev/log):

- systemd-journald.socket + systemd-journald-dev-log.socket start the real systemd-journald on
  the first message (its unit file's Sockets= hands it both sockets' fds); `logger` and
  `systemd-cat` output is then read back with `journalctl -D` on the private journal directory.
- dbus.socket starts the real system dbus-daemon (`--address=systemd:`), and `busctl --system`
  is answered by it.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from bus_harness import Manager, make_manager, wait_for

pytestmark = pytest.mark.root

SYSTEM_UNITS = Path("/lib/systemd/system")
JOURNAL_UNITS = ("systemd-journald.socket", "systemd-journald-dev-log.socket", "systemd-journald.service")
DBUS_UNITS = ("dbus.socket", "dbus.service")
# What the copied units order themselves against; the test's own, so the host's never load.
TARGETS = {name: "[Unit]\nDefaultDependencies=no\n" for name in
           ("sysinit.target", "sockets.target", "shutdown.target")}
CONF = ("[Journal]\\nStorage=volatile\\nReadKMsg=no\\nForwardToSyslog=no\\nForwardToKMsg=no\\nForwardToWall=no\\n"
        "Audit=no\\n")
PRIVATE_DEV = ("mkdir /run/devstage && mount -t tmpfs -o mode=755 tmpfs /run/devstage && "
               "(cp -ax /dev/. /run/devstage/ 2>/dev/null; true) && mount --move /run/devstage /dev && "
               "rm -f /dev/log")
JOURNAL_CONF = f"mkdir -p /run/systemd/journald.conf.d && printf '{CONF}' > /run/systemd/journald.conf.d/test.conf"


def _copied(names: tuple[str, ...]) -> dict[str, str]:
    missing = [n for n in names if not (SYSTEM_UNITS / n).exists()]
    if missing:
        pytest.skip(f"not installed: {' '.join(missing)}")
    return {**TARGETS, **{n: (SYSTEM_UNITS / n).read_text() for n in names}}


def _manager(tmp: Path, names: tuple[str, ...], setup: list[list[str]],
             daemon_args: tuple[str, ...] = ()) -> Iterator[Manager]:
    yield from make_manager(tmp, "system", _copied(names), private_run=True,
                            setup=[["sh", "-c", PRIVATE_DEV], *setup], daemon_args=daemon_args)


@pytest.fixture()
def jm(tmp_path: Path) -> Iterator[Manager]:
    if shutil.which("logger") is None or shutil.which("systemd-cat") is None:
        pytest.skip("logger or systemd-cat missing")
    yield from _manager(tmp_path, JOURNAL_UNITS, [["sh", "-c", JOURNAL_CONF]])


@pytest.fixture()
def dm() -> Iterator[Manager]:
    # dbus-daemon sends READY=1 after dropping to messagebus, so the manager's notify socket must
    # be reachable by that user (pytest's tmp_path is below a 0700 directory).
    root = Path(tempfile.mkdtemp(prefix="smsock-", dir="/tmp"))
    try:
        root.chmod(0o711)
        yield from _manager(root, DBUS_UNITS, [])
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _state(m: Manager, unit: str) -> str:
    r = m.systemctl("show", "-P", "ActiveState", unit)
    return r.out.strip()


def _journal(m: Manager, *match: str) -> list[dict[str, str]]:
    machine = Path("/etc/machine-id").read_text().strip()
    r = m.ns.run(["journalctl", "--no-pager", "-o", "json", "-D", f"/run/log/journal/{machine}", *match], m.env)
    return [json.loads(line) for line in r.out.splitlines() if line.startswith("{")]


def test_journald_is_socket_activated_by_its_own_units(jm: Manager) -> None:
    r = jm.systemctl("start", "systemd-journald.socket", "systemd-journald-dev-log.socket")
    assert r.rc == 0, r.err
    assert _state(jm, "systemd-journald.service") == "inactive"  # nothing has arrived yet
    assert jm.ns.run(["readlink", "/dev/log"], jm.env).out.strip() == "/run/systemd/journal/dev-log"

    assert jm.ns.run(["logger", "-t", "smtest-devlog", "through /dev/log"], jm.env).rc == 0
    wait_for(lambda: _state(jm, "systemd-journald.service") == "active", "journald activated", 30)
    wait_for(lambda: _journal(jm, "SYSLOG_IDENTIFIER=smtest-devlog"), "the logger line in the journal", 30)
    assert _journal(jm, "SYSLOG_IDENTIFIER=smtest-devlog")[0]["MESSAGE"] == "through /dev/log"

    r = jm.ns.run(["systemd-cat", "-t", "smtest-cat", "echo", "through the stdout stream"], jm.env)
    assert r.rc == 0, r.err
    wait_for(lambda: _journal(jm, "SYSLOG_IDENTIFIER=smtest-cat"), "the systemd-cat line in the journal", 30)
    entry = _journal(jm, "SYSLOG_IDENTIFIER=smtest-cat")[0]
    assert (entry["MESSAGE"], entry["_TRANSPORT"]) == ("through the stdout stream", "stdout")

    # Both sockets' three fds reached journald through its unit's Sockets=, each named after its
    # socket unit (in the order of the TriggeredBy= set, unspecified in systemd as well).
    show = jm.systemctl("show", "-P", "TriggeredBy", "systemd-journald.service").out.split()
    assert {"systemd-journald.socket", "systemd-journald-dev-log.socket"} <= set(show)
    pid = jm.systemctl("show", "-P", "MainPID", "systemd-journald.service").out.strip()
    environ = jm.ns.run(["cat", f"/proc/{pid}/environ"], jm.env).out.split("\0")
    assert "LISTEN_FDS=3" in environ
    names = next(e for e in environ if e.startswith("LISTEN_FDNAMES=")).partition("=")[2].split(":")
    assert sorted(names) == ["systemd-journald-dev-log.socket", "systemd-journald.socket", "systemd-journald.socket"]


def test_dbus_socket_activates_the_system_bus(dm: Manager) -> None:
    r = dm.systemctl("start", "dbus.socket")
    assert r.rc == 0, r.err
    assert _state(dm, "dbus.service") == "inactive"
    env = {k: v for k, v in dm.env.items() if k != "DBUS_SYSTEM_BUS_ADDRESS"}  # the activated bus, not ours
    r = dm.ns.run(["busctl", "--system", "call", "org.freedesktop.DBus", "/org/freedesktop/DBus",
                   "org.freedesktop.DBus", "GetId"], env, timeout=60)
    assert r.rc == 0 and r.out.startswith("s "), r.err
    try:
        wait_for(lambda: _state(dm, "dbus.service") == "active", "dbus.service active (READY=1)", 30)
    except AssertionError:
        raise AssertionError(dm.systemctl("status", "dbus.service", "dbus.socket").out + dm.log) from None
    assert "org.freedesktop.DBus" in dm.ns.run(["busctl", "--system", "list", "--no-pager"], env).out
