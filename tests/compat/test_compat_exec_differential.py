"""Differential test: random Exec lines through compat and through systemd-analyze verify.

Warnings (text and line) and whether the unit is refused must be the same: quoting, escapes,
prefixes, `;` separators, specifiers and the "-" prefix's ignore rules all take part.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from compat_helpers import compat_view, needs_analyze, verify_batch

TOKENS = [
    "/bin/echo", "-/bin/true", "@/bin/sh", "sh", ":/bin/x", "+/bin/y", "!!/bin/z", "!/bin/w", "-", "@", ";",
    "\\;", "a", "'b c'", '"d e"', "\\x41", "\\q", "'unterminated", "%n", "%Z", "%%", "$X", "${Y}", "/bin/",
    "rel/path", "\\", "'x'y\"z\"", "\\u00e4", "\\0101", "\t", "  ",
]  # fmt: skip


@needs_analyze
@pytest.mark.parametrize("seed", [1, 2])
def test_exec_lines_match_systemd(tmp_path: Path, seed: int) -> None:
    rnd = random.Random(seed)
    names = []
    for i in range(80):
        line = " ".join(rnd.choice(TOKENS) for _ in range(rnd.randint(1, 6)))
        (tmp_path / f"e{i}.service").write_text(f"[Service]\nExecStartPre={line}\nExecStart=/bin/true\n")
        names.append(f"e{i}.service")
    assert compat_view(tmp_path, names) == verify_batch(tmp_path, names)
