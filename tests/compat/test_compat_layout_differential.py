"""Differential test: random unit directory layouts, loaded by compat and by systemd.

Units spread over three search directories, alias symlinks, masks, drop-ins for names,
templates, instances, dash-prefixes and types (some masked), `.wants/` links (some dangling,
some templates, some to the unit itself): the unit id, aliases, fragment, drop-in list, file
Wants= and load state must match systemd's own dump of the unit.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
from compat_helpers import FACTS, analyze_dump_all, needs_analyze

from compat.loader import UnitLoader
from compat.model import Scope

SIMPLE = "[Service]\nExecStart=/bin/true\n"
UNITS = ["foo.service", "foo-bar.service", "foo-bar-baz.service", "t@.service", "t-x@.service", "other.service",
         "zz.target"]
STEMS = ["foo.service", "foo-.service", "foo-bar.service", "foo-bar-.service", "foo-bar-baz.service", "t@.service",
         "t@i.service", "t-@.service", "t-x@.service", "t-x@i.service", "t-@i.service", "service", "target",
         "al.service", "other.service"]
NAMES = ["foo.service", "foo-bar.service", "foo-bar-baz.service", "t@i.service", "t-x@i.service", "al.service",
         "al2@i.service", "other.service", "other-alias.service", "zz.target"]


def _layout(root: Path, seed: int) -> list[Path]:
    rnd = random.Random(seed)
    dirs = [root / x for x in "abc"]
    for d in dirs:
        d.mkdir()
    for unit in UNITS:
        (rnd.choice(dirs) / unit).write_text(SIMPLE if unit.endswith(".service") else "[Unit]\n")
    for alias, target in [("al.service", "foo.service"), ("al2@.service", "t@.service"),
                          ("other-alias.service", "other.service")]:
        link = rnd.choice(dirs) / alias
        if not os.path.lexists(link):
            os.symlink(next(d / target for d in dirs if (d / target).exists()), link)
    if rnd.random() < 0.3 and not os.path.lexists(link := rnd.choice(dirs) / "other.service"):
        os.symlink("/dev/null", link)
    for _ in range(10):
        d = rnd.choice(dirs) / f"{rnd.choice(STEMS)}.d"
        d.mkdir(exist_ok=True)
        conf = d / rnd.choice(["10-a.conf", "20-b.conf", "30-c.conf", "x.conf"])
        if os.path.lexists(conf):
            continue
        if rnd.random() < 0.15:
            os.symlink("/dev/null", conf)
        else:
            conf.write_text("[Unit]\nDescription=x\n")
    for _ in range(5):
        d = rnd.choice(dirs) / f"{rnd.choice(STEMS)}.wants"
        d.mkdir(exist_ok=True)
        dep = rnd.choice(["other.service", "foo.service", "t@j.service", "t@.service"])
        if not os.path.lexists(d / dep):
            os.symlink("/dev/null" if rnd.random() < 0.1 else f"/nowhere/{dep}", d / dep)
    return dirs


@needs_analyze
@pytest.mark.parametrize("seed", [1, 3, 4, 7])
def test_layouts_match_systemd(tmp_path: Path, seed: int) -> None:
    dirs = _layout(tmp_path, seed)
    dumps = analyze_dump_all(NAMES, {"SYSTEMD_UNIT_PATH": ":".join(map(str, dirs))})
    loader = UnitLoader(Scope.SYSTEM, unit_path=[str(d) for d in dirs], facts=FACTS)
    compared = 0
    for name in NAMES:
        unit = loader.load(name)
        block = next((b for b in dumps.values() if name in b["Id"] or name in b.get("Alias", [])), None)
        if block is None:
            assert unit.load_state == "masked", name  # verify refuses masked units before dumping
            continue
        ours = {
            "Id": [unit.name], "Alias": sorted(unit.names[1:]), "Load": [unit.load_state],
            "Fragment": [unit.fragment_path] if unit.fragment_path else [], "DropIns": unit.dropin_paths,
            "Wants": sorted(unit.config.unit.wants) if unit.config else [],
        }
        theirs = {
            "Id": block["Id"], "Alias": sorted(block.get("Alias", [])), "Load": block.get("Unit Load State", []),
            "Fragment": block.get("Fragment Path", []), "DropIns": block.get("DropIn Path", []),
            "Wants": sorted(w.split()[0] for w in block.get("Wants", []) if "origin-file" in w),
        }
        assert ours == theirs, name
        compared += 1
    assert compared >= 8
