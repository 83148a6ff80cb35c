"""Build the wheel, install it into a fresh venv that cannot see the checkout, and run the smoke
suite (test_smoke.py) under that venv's interpreter: what a user installs is what is tested."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# Only what the smoke suite needs besides the wheel's own dependencies.
SMOKE_DEPS = ["pytest"]

pytestmark = [pytest.mark.slow, pytest.mark.skipif(os.geteuid() != 0, reason="the smoke suite needs root")]


def _tracked_files() -> list[str]:
    out = subprocess.run(["git", "-C", str(REPO), "ls-files", "-co", "--exclude-standard"], capture_output=True,
                         text=True, check=True).stdout
    return [f for f in out.splitlines() if (REPO / f).exists() or (REPO / f).is_symlink()]


def _copy_tree(dest: Path, files: list[str]) -> None:
    for name in files:
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        source = REPO / name
        if source.is_symlink():
            target.symlink_to(os.readlink(source))
        else:
            shutil.copy2(source, target)


def _base_python() -> str:
    """The interpreter the project's venv was made from, not the venv itself."""
    return getattr(sys, "_base_executable", sys.executable)


def test_installed_wheel_passes_the_smoke_suite(tmp_path: Path) -> None:
    files = _tracked_files()
    source = tmp_path / "source"
    _copy_tree(source, files)  # a clean tree: the build leaves nothing in the checkout
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist),
                    str(source)], check=True, capture_output=True, timeout=300)
    wheels = list(dist.glob("sysmaster_py-*.whl"))
    assert len(wheels) == 1, wheels

    venv = tmp_path / "venv"
    subprocess.run([_base_python(), "-m", "venv", str(venv)], check=True, timeout=120)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    pip = subprocess.run([str(venv / "bin/pip"), "install", "-q", str(wheels[0]), *SMOKE_DEPS], capture_output=True,
                         text=True, timeout=600, env=env, cwd="/")
    assert pip.returncode == 0, pip.stdout + pip.stderr

    # The tests, and nothing of the package, next to the venv (the tests' cgroup cleanup walks the
    # hierarchies with the boot comparison's code: a script, not part of the package).
    suite = tmp_path / "suite"
    _copy_tree(suite, [f for f in files
                       if f.startswith("tests/") or f in ("pyproject.toml", "scripts/boot_compare.py")])
    r = subprocess.run([str(venv / "bin/pytest"), "-q", "-p", "no:cacheprovider", "-rs", "tests/install/test_smoke.py"],
                       capture_output=True, text=True, timeout=600, env=env, cwd=suite)
    report = r.stdout + r.stderr
    assert r.returncode == 0, report
    assert " passed" in report and "skipped" not in report.splitlines()[-1], report
