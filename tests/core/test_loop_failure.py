"""A bug that escapes a callback of a core running without sysmaster-init (which would start a new
core) does not leave it running in a state it cannot trust: the traceback is logged at error level,
the units are stopped and the core exits with a failure."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

# the core, with its notify-socket callback broken on purpose
BROKEN_CORE = """
import sys
from sysmasterd.core import runtime
from sysmasterd.core.main import main

def broken(self, pid, fields, fds):
    raise RuntimeError("broken on purpose")

runtime.ExecRuntime._on_notify = broken
sys.exit(main())
"""


def test_an_escaped_exception_stops_the_units_and_the_core(tmp_path: Path) -> None:
    units = tmp_path / "units"
    units.mkdir()
    pid_file = tmp_path / "sleeper.pid"
    (units / "default.target").write_text("[Unit]\nDescription=Default\nWants=notifier.service\n")
    (units / "notifier.service").write_text(
        "[Service]\nNotifyAccess=all\n"
        f"ExecStart=/bin/sh -c 'echo $$$$ > {pid_file}; sleep 2; systemd-notify --ready; exec sleep 60'\n")
    proc = subprocess.run(
        [sys.executable, "-c", BROKEN_CORE, "--user", "--no-bus", "--unit-path", str(units),
         "--runtime-dir", str(tmp_path / "rt")],
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_RUNTIME_DIR": str(tmp_path)},
        capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert "RuntimeError: broken on purpose" in proc.stderr
    assert "Unhandled exception in the event loop: stopping all units and exiting." in proc.stderr
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not os.path.exists(f"/proc/{pid}"), "the service outlived its manager"
