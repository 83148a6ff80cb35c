"""Container detection (the naming scheme's kernel command line depends on it) against the real
systemd-detect-virt 252, and its SYSTEMD_PROC_CMDLINE override."""

import os
import shutil
import subprocess
import sys

import pytest

PROBE = "from sysmasterd.devmaster.builtin import container; print(container.{})"


def _ours(expr: str, **env: str) -> str:
    r = subprocess.run([sys.executable, "-c", PROBE.format(expr)], capture_output=True, text=True, check=True,
                       env={**os.environ, **env})
    return r.stdout.strip()


@pytest.mark.skipif(shutil.which("systemd-detect-virt") is None, reason="needs systemd-detect-virt")
def test_same_container_as_systemd_detect_virt() -> None:
    real = subprocess.run(["systemd-detect-virt", "--container"], capture_output=True, text=True)
    assert _ours("detect_container()") == real.stdout.strip()


def test_command_line_override() -> None:
    assert _ours("kernel_command_line()", SYSTEMD_PROC_CMDLINE="net.naming-scheme=v247 quiet") == \
        "net.naming-scheme=v247 quiet"
