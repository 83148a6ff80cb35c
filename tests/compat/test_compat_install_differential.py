"""Differential test: random sequences of install operations, by compat and by `systemctl --root`.

Each step runs the same operation on two identical trees; afterwards the symlinks, the reported
changes and success/failure must agree (templates, instances, DefaultInstance=, Alias=, Also=,
masks, --runtime, presets, reenable's quirks)."""

from __future__ import annotations

import random
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from compat_helpers import changes, links, make_root, needs_systemctl, normalized, ours, systemctl

from compat.install import Installer, InstallError, InstallResult

NAMES = ["foo.service", "bar.service", "t@.service", "t@x.service", "u@.service", "u@y.service",
         "static.service", "foo-alias.service", "multi-user.target", "nope.service"]
OPS: dict[str, Callable[[Installer, list[str], bool], InstallResult]] = {
    "enable": lambda i, n, rt: i.enable(n, runtime=rt),
    "disable": lambda i, n, rt: i.disable(n, runtime=rt),
    "reenable": lambda i, n, rt: i.reenable(n, runtime=rt),
    "mask": lambda i, n, rt: i.mask(n, runtime=rt),
    "unmask": lambda i, n, rt: i.unmask(n, runtime=rt),
    "preset": lambda i, n, rt: i.preset(n),
}


@needs_systemctl
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_operations_like_systemctl(tmp_path: Path, seed: int) -> None:
    rnd = random.Random(seed)
    theirs, mine = make_root(tmp_path / "theirs"), make_root(tmp_path / "mine")
    for step in range(25):
        op = rnd.choice(sorted(OPS))
        runtime = op in ("enable", "disable", "mask", "unmask") and rnd.random() < 0.3
        args = rnd.sample(NAMES, rnd.randint(1, 2))
        rc, lines = systemctl(theirs, op, *(["--runtime"] if runtime else []), *args)
        try:
            made = OPS[op](ours(mine), args, runtime).changes
            failed, error = False, ""
        except InstallError as e:
            made, failed, error = e.changes, True, str(e)
        where = f"step {step}: {op} {args} runtime={runtime}"
        assert links(mine) == links(theirs), where
        assert sorted(changes(made, mine)) == sorted(normalized(lines, theirs)), where
        # `systemctl --root disable nope.service` exits 0; over D-Bus systemd reports the error.
        assert failed == (rc != 0) or (op == "disable" and "does not exist" in error), where
        shutil.rmtree(mine)
        shutil.copytree(theirs, mine, symlinks=True)
