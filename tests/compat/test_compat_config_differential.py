"""Differential test: random unit files through compat and through systemd-analyze verify.

Every warning (file, line, text) must be the same on both sides, for every directive we
implement, with valid and invalid values mixed. Random but seeded, so failures reproduce.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
from compat_helpers import compat_view, needs_analyze, verify_batch

from compat.config import SERVICE_TABLE
from compat.config_unit import UNIT_HANDLERS

VALUES = [
    "", "yes", "no", "maybe", "0", "1", "-5", "99", "1min 30s", "500ms", "infinity", "abc", "SIGKILL", "KILL",
    "9", "0755", "0999", "/bin/true", "-/bin/false x", "relative/x", "a.service", "b.target x.service",
    "bad name", "%n", "%i", "%Z", "1024:4096", "10:5", "4G", "50%", "on-failure", "always", "notify", "mixed",
    "journal", "file:/tmp/x", "A=1 B=2", '"A=1 2"', "1 2 SIGHUP", "300", "idle", "best-effort", "7", "-1000",
    "1001", "x86-64", "foo.slice", "root", "0-3", "~", "-/nonexistent", "restart", "dir/sub", "../up", "/abs",
    "tty", "data", "null", "inherit", "|/etc/x", "!/etc/y", "0x10", "010",
]  # fmt: skip
# Known, deliberate differences: numeric I/O classes 4-7 (not representable in the model) and
# the errno systemd reports for a few malformed sizes.
KNOWN = re.compile(r"IOSchedulingClass|Invalid memory limit '[0-9]+-")


def _write_units(directory: Path, seed: int, count: int = 60) -> list[Path]:
    rnd = random.Random(seed)
    unit_keys, service_keys = sorted(UNIT_HANDLERS), sorted(SERVICE_TABLE)
    paths = []
    for i in range(count):
        lines = ["[Unit]", *(f"{rnd.choice(unit_keys)}={rnd.choice(VALUES)}" for _ in range(4))]
        lines += ["[Service]", "ExecStart=/bin/true", *(f"{rnd.choice(service_keys)}={rnd.choice(VALUES)}"
                                                        for _ in range(6))]
        path = directory / f"r{i}.service"
        path.write_text("\n".join(lines) + "\n")
        paths.append(path)
    return paths


def _without_known(view: tuple[dict[str, list[str]], dict[str, str]], directory: Path) -> object:
    messages, states = view
    lines = {n: (directory / n).read_text().split("\n") for n in messages}

    def known(name: str, message: str) -> bool:
        number = int(message.split(":", 1)[0])
        return bool(KNOWN.search(message) or KNOWN.search(lines[name][number - 1]))

    return {n: [m for m in ms if not known(n, m)] for n, ms in messages.items()}, states


@needs_analyze
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_warnings_match_systemd(tmp_path: Path, seed: int) -> None:
    names = [p.name for p in _write_units(tmp_path, seed)]
    assert _without_known(compat_view(tmp_path, names), tmp_path) == _without_known(
        verify_batch(tmp_path, names), tmp_path
    )
