"""Removing the cgroups a manager under test made, wherever they ended up: a killed manager cannot
remove its own, and its subtree sits below the test's own cgroup in each hierarchy (cgroup2, the
name=systemd one, the v1 controller copies), whose paths differ from host to host."""

from __future__ import annotations

import importlib.util
import os
import sys
import time
from pathlib import Path
from types import ModuleType

from compat.model import Scope
from sysmasterd.core.main import cgroup_instance

_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "boot_compare.py"


def _boot_compare() -> ModuleType:
    """scripts/boot_compare.py, which holds the walk (the boot comparison cleans up the same way)."""
    if "boot_compare" not in sys.modules:
        spec = importlib.util.spec_from_file_location("boot_compare", _SCRIPT)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["boot_compare"] = module  # its dataclasses look themselves up there
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules["boot_compare"]
            raise
    return sys.modules["boot_compare"]


def remove_named(name: str, timeout: float = 10.0) -> list[str]:
    """Every cgroup directory called `name`, in every hierarchy, removed deepest first once the
    processes in it are gone; what could not be removed within `timeout`."""
    left: list[str] = _boot_compare().Cgroups(name).leave(time.monotonic() + timeout)
    return left


def remove_manager_cgroups(runtime_dir: str | os.PathLike[str], scope: str = "system",
                           timeout: float = 10.0) -> list[str]:
    """The subtree of a manager started with --runtime-dir (named after it, see sysmasterd's main)."""
    return remove_named(cgroup_instance(Scope(scope), os.path.abspath(runtime_dir)), timeout)
