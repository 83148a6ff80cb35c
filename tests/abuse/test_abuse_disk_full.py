"""A full runtime directory (the state store's tmpfs): the manager keeps running and answering, says
loudly that its state is not persisted, and writes it all once space is back."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from abuse_harness import SERVICE, abuse_namespace
from bus_harness import wait_for

pytestmark = [pytest.mark.root, pytest.mark.slow]

UNITS = {f"svc{i}.service": SERVICE.format(name=f"svc{i}") for i in range(4)}
STORED_STATE = ("import sqlite3, sys; db = sqlite3.connect(sys.argv[1]); "
                "print(db.execute('SELECT data FROM unit WHERE id = ?', (sys.argv[2],)).fetchone()[0])")


def test_full_runtime_dir_degrades_persistence_and_recovers(tmp_path: Path) -> None:
    with abuse_namespace(tmp_path, UNITS, runtime_tmpfs="1m") as sm:
        fill = str(sm.runtime / "fill")
        sm.ns.run(["dd", "if=/dev/zero", f"of={fill}", "bs=64k"], sm.env)
        for i in range(4):  # enough changes to outgrow whatever the WAL file had room for
            rc, took = sm.timed_start(f"svc{i}.service")
            assert rc == 0
            assert took < 1.5, took
        assert sm.systemctl("stop", "svc0.service").rc == 0
        wait_for(lambda: "cannot be written" in sm.log, "the store's warning")
        assert sm.proc is not None and sm.proc.poll() is None
        assert sm.active("svc1.service") == "active"
        time.sleep(2.5)  # retries while the disk stays full fail quietly
        assert "writable again" not in sm.log
        sm.ns.run(["rm", fill], sm.env)
        wait_for(lambda: "writable again" in sm.log, "the store to recover", timeout=15)
        stored = sm.ns.run([sys.executable, "-c", STORED_STATE, str(sm.runtime / "state.db"), "svc3.service"], sm.env)
        assert '"state": "running"' in stored.out, stored
        assert sm.systemctl("stop", *UNITS).rc == 0
        time.sleep(0.2)
        assert sm.log.count("cannot be written") == 1
