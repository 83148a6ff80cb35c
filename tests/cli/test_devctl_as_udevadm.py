"""devctl installed or linked under udevadm's name: it names itself udevadm, so its help, version
and usage errors are udevadm's own, byte for byte (scripts and rules that call `udevadm` by habit)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UDEVADM = "/usr/bin/udevadm"
DEVCTL = Path(sys.executable).with_name("devctl")


@pytest.mark.skipif(not Path(UDEVADM).exists() or not DEVCTL.exists(), reason="needs udevadm and an installed devctl")
@pytest.mark.parametrize("args", [["--help"], ["--version"], ["info", "--help"], ["lock", "--help"],
                                  ["test-builtin", "--help"], ["frobnicate"], ["info", "--bogus"]])
def test_linked_as_udevadm_it_speaks_as_udevadm(tmp_path: Path, args: list[str]) -> None:
    link = tmp_path / "udevadm"
    link.symlink_to(DEVCTL)
    env = {**os.environ, "SYSTEMD_COLORS": "0", "LANG": "C.UTF-8"}
    real = subprocess.run([UDEVADM, *args], capture_output=True, text=True, env=env, timeout=30)
    ours = subprocess.run([str(link), *args], capture_output=True, text=True, env=env, timeout=30)
    assert (ours.returncode, ours.stdout, ours.stderr) == (real.returncode, real.stdout, real.stderr)
    shutil.rmtree(tmp_path, ignore_errors=True)
