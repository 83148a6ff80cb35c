"""The sysmasterd binary itself: boot target, readiness, SIGTERM stop order, --test --dump, SIGHUP reload."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

SYSMASTERD = [sys.executable, "-m", "sysmasterd.core.main"]


def _units(d: Path) -> None:
    (d / "default.target").write_text("[Unit]\nDescription=Default\nWants=db.service app.service\n")
    (d / "basic.target").write_text("[Unit]\nDescription=Basic\n")
    (d / "db.service").write_text("[Unit]\nDescription=Database\n[Service]\nExecStart=/bin/sleep 1000\n")
    (d / "app.service").write_text("[Unit]\nDescription=Application\nRequires=db.service\nAfter=db.service\n"
                                   "[Service]\nExecStart=/bin/sleep 1000\n")


def test_test_dump_lists_units(tmp_path: Path) -> None:
    _units(tmp_path)
    out = subprocess.run([*SYSMASTERD, "--user", "--test", "--dump", "--unit-path", str(tmp_path)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "-> Unit app.service:" in out.stdout
    assert "\tAfter: db.service" in out.stdout
    assert "\tLoad State: loaded" in out.stdout


def test_dump_without_test_is_a_usage_error(tmp_path: Path) -> None:
    out = subprocess.run([*SYSMASTERD, "--user", "--dump"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "--dump requires --test" in out.stderr


def test_boot_ready_and_ordered_shutdown(tmp_path: Path) -> None:
    units = tmp_path / "units"
    units.mkdir()
    _units(units)
    notify_path = tmp_path / "ready.sock"
    ready = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    ready.bind(str(notify_path))
    ready.settimeout(20)
    log = tmp_path / "log"
    env = dict(os.environ, NOTIFY_SOCKET=str(notify_path))
    proc = subprocess.Popen([*SYSMASTERD, "--user", "--no-bus", "--unit-path", str(units), "--runtime-dir",
                             str(tmp_path / "run"), "--log-target", f"file:{log}"], env=env)
    try:
        assert b"READY=1" in ready.recv(4096)
        deadline = time.monotonic() + 20
        while "Started Default." not in log.read_text():
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        # SIGHUP is daemon-reload: nothing restarts.
        proc.send_signal(signal.SIGHUP)
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        ready.close()
    text = log.read_text()
    assert text.count("Started Application.") == 1
    # Stop in reverse order of start: the application before the database it runs after.
    assert text.index("Stopped Application.") < text.index("Stopped Database.")
    assert "All units stopped, exiting." in text
