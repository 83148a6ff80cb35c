"""The D-Bus face is not optional: when it cannot exist, the daemon says why and fails."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_missing_introspection_data_fails_the_start(tmp_path: Path) -> None:
    units = tmp_path / "units"
    units.mkdir()
    (units / "default.target").write_text("[Unit]\nDescription=Default\n")
    empty = tmp_path / "no-data"
    empty.mkdir()
    r = subprocess.run([sys.executable, "-m", "sysmasterd.core.main", "--user", "--unit-path", str(units),
                        "--runtime-dir", str(tmp_path / "rt"), "--bus-address", f"unix:path={tmp_path}/none"],
                       env={"SYSMASTER_DBUS_DIR": str(empty), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
                            "XDG_RUNTIME_DIR": str(tmp_path)},
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert "fatal: introspection data of org.freedesktop.systemd1.Manager unusable" in r.stderr, r.stderr
