"""Descriptors run out (a low RLIMIT_NOFILE, a client holding connections) and a flood of
descriptors through the world-writable notify socket: the manager neither spins nor floods its log,
keeps answering, and serves root again once descriptors are free."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from abuse_harness import SERVICE, abuse_namespace, p99, stop_peers
from bus_harness import wait_for

pytestmark = [pytest.mark.root, pytest.mark.slow]

UNITS = {"other.service": SERVICE.format(name="other")}


def test_fd_exhaustion_pauses_accepting_without_spinning(tmp_path: Path) -> None:
    with abuse_namespace(tmp_path, UNITS, prefix=("prlimit", "--nofile=96:96", "--")) as sm:
        hog = sm.peer("hog", "/run/systemd/private", "250", "6", uid=0)
        try:
            wait_for(lambda: "cannot accept connections" in sm.log, "accept() to fail", timeout=10)
            before = sm.cpu_seconds()
            time.sleep(2)
            assert sm.cpu_seconds() - before < 0.5  # not spinning on the readable listening socket
            # Root on the bus is still answered meanwhile.
            r = sm.systemctl("show", "-p", "Id", "basic.target", force_bus=True, timeout=10)
            assert r.out.strip() == "Id=basic.target", r
        finally:
            stop_peers([hog])
        rc, took = sm.timed_start("other.service")
        assert rc == 0
        assert took < 1.5, took
        assert sm.log.count("cannot accept connections") <= 2
        assert sm.systemctl("stop", "other.service").rc == 0


def test_notify_flood_with_fds_from_outside_any_unit(tmp_path: Path) -> None:
    with abuse_namespace(tmp_path, UNITS) as sm:
        flood = sm.peer("notifyflood", str(sm.runtime / "notify"), "8")
        try:
            time.sleep(1)
            latencies = sm.probe(4)
            rc, took = sm.timed_start("other.service")
            assert rc == 0
            assert took < 1.5, took
            assert p99(latencies) < 1.0, sorted(latencies)[-5:]
        finally:
            stop_peers([flood])
        assert int(sm.peer_output("notifyflood").split()[-1]) > 1000  # datagrams the flood got through
        assert sm.systemctl("stop", "other.service").rc == 0
        # The fds of every datagram were closed: the manager holds about as many as at start.
        fds = len(list(Path(f"/proc/{sm.core_pid()}/fd").iterdir()))
        assert fds < 100, fds
