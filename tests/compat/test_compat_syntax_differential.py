"""Differential test: random unit-file syntax through compat and through systemd-analyze verify.

Sections, comments, continuations, CRLF, broken headers, unknown keys: the same warnings in the
same order, and the same refusals ("error: Bad message", bad-setting)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from compat_helpers import compat_view, needs_analyze, verify_batch

PIECES = [
    "[Unit]", "[Service]", "[Install]", "[X-Foo]", "[Bogus]", "[Unit", "Description=x", "Description = y ",
    "After=a.service \\", "  b.service", "# comment \\", "; c", "noequals", "=v", "X-Key=1",
    "ExecStart=/bin/true", "ExecStart=/bin/echo a\\", "Foo=bar", "", "   ", "WantedBy=multi-user.target",
    "Description=\\\\", "\tDescription=tab", "[Service]  ", "  [Unit]", "Description=a # not a comment",
]  # fmt: skip


@needs_analyze
@pytest.mark.parametrize("seed", [1, 2])
def test_syntax_matches_systemd(tmp_path: Path, seed: int) -> None:
    rnd = random.Random(seed)
    names = []
    for i in range(60):
        lines = [rnd.choice(PIECES) for _ in range(rnd.randint(1, 10))]
        sep = rnd.choice(["\n", "\n", "\r\n"])
        with open(tmp_path / f"s{i}.service", "w", newline="") as f:
            f.write(sep.join(lines) + rnd.choice(["", sep]))
        names.append(f"s{i}.service")
    assert compat_view(tmp_path, names) == verify_batch(tmp_path, names)
