"""Hostile callers on the system bus (a throwaway uid, Debian's bus policy, no polkit) and root's
clients beside them: root's `systemctl start` still works and the manager answers within a second,
the manager keeps its bus name, and no connection of root's is dropped for someone else's load."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from abuse_harness import SERVICE, AbuseManager, abuse_namespace, p99, stop_peers

pytestmark = [pytest.mark.root, pytest.mark.slow]

UNITS = {
    "other.service": SERVICE.format(name="other"),
    "second.service": SERVICE.format(name="second"),
    "noisy.service": "[Unit]\nDescription=noisy\nDefaultDependencies=no\n[Service]\nExecStart=/bin/sleep 1000\n"
                     "NoSuchSetting=1\n",
}


@pytest.fixture
def sm(tmp_path: Path) -> Iterator[AbuseManager]:
    with abuse_namespace(tmp_path, UNITS) as m:
        yield m


def test_list_units_by_names_is_bounded_and_root_keeps_control(sm: AbuseManager) -> None:
    huge = sm.peer("names", sm.bus_address, "200000", "1")
    huge.wait(60)
    result, elapsed = sm.peer_output("names").split()
    assert result == "org.freedesktop.DBus.Error.LimitsExceeded"
    assert float(elapsed) < 5
    abusers = [sm.peer("names", sm.bus_address, "16000", "50") for _ in range(2)]
    abusers.append(sm.peer("loadflood", sm.bus_address, "15"))
    try:
        time.sleep(1)
        latencies = sm.probe(5)
        rc, took = sm.timed_start("other.service")
        assert rc == 0
        assert took < 1.5, took
        assert p99(latencies) < 1.0, sorted(latencies)[-5:]
        assert sm.owns_name()
    finally:
        stop_peers(abusers)
    assert "dropping the peer" not in sm.log
    assert sm.systemctl("stop", "other.service").rc == 0
    assert sm.active("other.service") == "inactive"


def test_denied_callers_cost_no_work(sm: AbuseManager) -> None:
    big = sm.peer("setprops", sm.bus_address, "300000")
    big.wait(60)
    result, elapsed = sm.peer_output("setprops").split()
    assert result == "org.freedesktop.DBus.Error.AccessDenied"
    assert float(elapsed) < 1.5, elapsed
    denied = sm.peer("reload-or-restart", sm.bus_address, "noisy.service")
    denied.wait(30)
    assert sm.peer_output("reload-or-restart").split() == ["org.freedesktop.DBus.Error.AccessDenied"]
    # Loading noisy.service logs its bad setting: the denied call never loaded it.
    assert "NoSuchSetting" not in sm.log


def test_signal_storm_with_peers_that_never_read(sm: AbuseManager) -> None:
    abusers = [sm.peer("noread", sm.bus_address, "30") for _ in range(3)]
    # Root's own client on the private socket that never reads (it subscribed by connecting).
    abusers.append(sm.peer("noread", "unix:path=/run/systemd/private", "30", uid=0))
    abusers += [sm.peer("loadflood", sm.bus_address, "15") for _ in range(2)]
    try:
        time.sleep(2)
        latencies = sm.probe(5)
        rc, took = sm.timed_start("other.service")
        assert rc == 0
        assert took < 1.5, took
        assert p99(latencies) < 1.0, sorted(latencies)[-5:]
        assert sm.systemctl("start", "second.service").rc == 0
        assert sm.owns_name()
    finally:
        stop_peers(abusers)
    assert "dropping the peer" not in sm.log
    assert sm.systemctl("stop", "other.service", "second.service").rc == 0
