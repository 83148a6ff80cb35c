"""[Swap] and [Automount]: parsed values, and the warnings and refusals systemd-analyze verify gives
for the same files (config_parse_swap_priority, swap_verify, automount_verify)."""

from __future__ import annotations

from pathlib import Path

import pytest
from compat_helpers import FACTS, analyze_verify, needs_analyze, write

from compat.loader import LoadedUnit, UnitLoader
from compat.model import USEC_INFINITY, Scope

CASES = {
    "good": ("tmp-x.swap", "[Swap]\nWhat=/tmp/x\nPriority=7\nOptions=discard\nTimeoutSec=0\n"),
    "priorities": ("tmp-x.swap", "[Swap]\nWhat=/tmp/x\nPriority=abc\nPriority=-2\nPriority=40000\n"),
    "mismatch": ("tmp-x.swap", "[Swap]\nWhat=/tmp/y\n"),
    "relative": ("tmp-x.swap", "[Swap]\nWhat=tmp/x\n"),
    "automount": ("mnt-a.automount", "[Automount]\nWhere=/mnt/a\nExtraOptions=ro\nDirectoryMode=0700\n"
                  "TimeoutIdleSec=30\n"),
    "reserved": ("mnt-a.automount", "[Automount]\nExtraOptions=ro,direct\n"),
    "where-mismatch": ("mnt-a.automount", "[Automount]\nWhere=/mnt/b\nDirectoryMode=999\n"),
}
REFUSED = {"mismatch", "reserved", "where-mismatch"}


def _load(tmp_path: Path, case: str) -> tuple[str, LoadedUnit]:
    name, text = CASES[case]
    write(tmp_path / name, text)
    return name, UnitLoader(Scope.SYSTEM, unit_path=[str(tmp_path)], facts=FACTS).load(name)


def test_swap_values(tmp_path: Path) -> None:
    _, u = _load(tmp_path, "good")
    assert u.config is not None and u.config.swap is not None
    s = u.config.swap
    assert (s.what, s.priority, s.options, s.timeout_usec) == ("/tmp/x", 7, "discard", USEC_INFINITY)
    assert u.config.unit.ignore_on_isolate


def test_automount_values(tmp_path: Path) -> None:
    _, u = _load(tmp_path, "automount")
    assert u.config is not None and u.config.automount is not None
    a = u.config.automount
    assert (a.where, a.extra_options, a.directory_mode, a.timeout_idle_usec) == ("/mnt/a", "ro", 0o700, 30_000_000)


@needs_analyze
@pytest.mark.parametrize("case", sorted(CASES))
def test_warnings_match_systemd(tmp_path: Path, case: str) -> None:
    name, u = _load(tmp_path, case)
    ours = [str(d) if d.line else f"{name}: {d.message}" for d in u.diagnostics]
    theirs = [line for line in analyze_verify(tmp_path, name)
              if not line.startswith(("Unit ", f"{name}: Unit configuration has fatal error"))
              and "Failed to parse file" not in line and ": Failed to create " not in line
              and "is not supported on this system" not in line and "unsupported" not in line.lower()]
    assert ours == theirs
    assert u.load_state == ("bad-setting" if case in REFUSED else "loaded")
