"""[Path]: parsing against systemd-analyze verify (every warning, refusals), and the model's
shape (newest setting first, empty resets, defaults filled in as systemd does)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from compat_helpers import FACTS, compat_view, needs_analyze, verify_batch

from compat.config_path import PATH_HANDLERS, PathKind, PathSpec, trigger_limit, trigger_unit
from compat.loader import UnitLoader
from compat.model import Scope

VALUES = [
    "", "/srv/x", "/srv//y/./z/", "relative", "/a/../b", "/srv/*.req", "%t/sock", "%Z", "%n.d", "yes", "no",
    "maybe", "0700", "999", "1777", "10s", "infinity", "abc", "0", "5", "-1", "4294967295", "r1.service",
    "other.service", "foo", "bad name", "x@.service", "%N.service", "r0.path",
]  # fmt: skip


def _write_units(directory: Path, seed: int, count: int = 50) -> list[str]:
    rnd = random.Random(seed)
    keys = sorted(PATH_HANDLERS)
    names = []
    for i in range(count):
        lines = ["[Path]", *(f"{rnd.choice(keys)}={rnd.choice(VALUES)}" for _ in range(7))]
        (directory / f"r{i}.path").write_text("\n".join(lines) + "\n")
        (directory / f"r{i}.service").write_text("[Service]\nExecStart=/bin/true\n")
        names.append(f"r{i}.path")
    (directory / "other.service").write_text("[Service]\nExecStart=/bin/true\n")
    return names


@needs_analyze
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_path_warnings_match_systemd(tmp_path: Path, seed: int) -> None:
    names = _write_units(tmp_path, seed)
    assert compat_view(tmp_path, names) == verify_batch(tmp_path, names)


def _load(tmp_path: Path, text: str, name: str = "w.path") -> tuple[object, list[str]]:
    (tmp_path / name).write_text(text)
    unit = UnitLoader(Scope.USER, unit_path=[str(tmp_path)], facts=FACTS).load(name)
    return unit, [d.message for d in unit.diagnostics]


def test_settings_newest_first_and_reset(tmp_path: Path) -> None:
    unit, _ = _load(tmp_path, "[Path]\nPathExists=/gone\nPathExists=\nPathExists=/a//b/\nPathChanged=/c\n"
                              "DirectoryNotEmpty=/d\n")
    cfg = unit.config  # type: ignore[attr-defined]
    assert cfg.path.specs == [PathSpec(PathKind.DIRECTORY_NOT_EMPTY, "/d"), PathSpec(PathKind.CHANGED, "/c"),
                              PathSpec(PathKind.EXISTS, "/a/b")]
    assert trigger_unit(cfg) == "w.service"
    assert trigger_limit(cfg.path) == (2_000_000, 200)
    assert (cfg.path.make_directory, cfg.path.directory_mode) == (False, 0o755)


def test_unit_and_limits(tmp_path: Path) -> None:
    unit, _ = _load(tmp_path, "[Path]\nPathExists=/x\nUnit=job.service\nTriggerLimitIntervalSec=5s\n"
                              "TriggerLimitBurst=9\n")
    cfg = unit.config  # type: ignore[attr-defined]
    assert trigger_unit(cfg) == "job.service"
    assert trigger_limit(cfg.path) == (5_000_000, 9)


def test_no_path_refused(tmp_path: Path) -> None:
    unit, messages = _load(tmp_path, "[Path]\nUnit=x.service\n")
    assert unit.load_state == "bad-setting"  # type: ignore[attr-defined]
    assert messages[-1] == "Path unit lacks path setting. Refusing."
