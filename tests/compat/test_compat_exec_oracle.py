"""Exec lines and environment compared with systemd's own unit dump (systemd-analyze verify, debug)."""

from __future__ import annotations

import shlex
from collections.abc import Callable
from pathlib import Path

from compat_helpers import FACTS, analyze_dump, needs_analyze

from compat.loader import UnitLoader
from compat.model import Scope

EXEC_LINES = [
    r"""/bin/echo "a b" 'c\x41' \101 "$FOO" ${BAR} \; x ; /bin/true y""",
    r"""-/bin/sh -c 'echo "quoted \"inner\""; exit 3'""",
    r"""@/bin/sleep sleeper 10""",
    r"""/usr/bin/env "A=spaces  kept" B=\ttab C='single "double"'""",
    r"""/bin/printf %%s\n %n %i""",
    r"""/bin/echo a"b c"d e'f g'h""",
    r"""/bin/echo \u00e4 \s end""",
]


def _unquote(word: str) -> str:
    """What shlex leaves of systemd's quoting: backslashes before $ and `, C escapes of controls."""
    for escaped, plain in (("\\$", "$"), ("\\`", "`"), ("\\t", "\t"), ("\\n", "\n")):
        word = word.replace(escaped, plain)
    return word


@needs_analyze
def test_exec_argv_matches_systemd(units: Callable[..., Path], tmp_path: Path) -> None:
    body = "".join(f"ExecStartPre={line}\n" for line in EXEC_LINES)
    units("q@inst.service", f"[Service]\n{body}ExecStart=/bin/true\nEnvironment=\"A=1 2\" B=\\x41 'C=x y'\n")
    dump = analyze_dump([tmp_path / "units"], "q@inst.service")
    loaded = UnitLoader(Scope.SYSTEM, unit_path=[str(tmp_path / "units")], facts=FACTS).load("q@inst.service")
    assert loaded.config is not None and loaded.config.service is not None
    ours = [list(c.argv) for c in loaded.config.service.exec_start_pre]
    # The dump prints argv shell-quoted (for "@" lines argv[0] is the given name, not the path).
    theirs = [[_unquote(w) for w in shlex.split(line)] for line in dump["Command Line"]][: len(ours)]
    assert ours == theirs
    assert loaded.config.service.exec_start_pre[3].path == "/bin/sleep"
    env = loaded.config.exec.environment
    assert [f"{k}={v}" for k, v in env.items()] == dump["Environment"]


@needs_analyze
def test_environment_order_matches_systemd(units: Callable[..., Path], tmp_path: Path) -> None:
    units("env.service", '[Service]\nExecStart=/bin/true\nEnvironment=A=1 B=2\nEnvironment="C=3" A=4\n'
          "Environment=D=%n\n")
    dump = analyze_dump([tmp_path / "units"], "env.service")
    loaded = UnitLoader(Scope.SYSTEM, unit_path=[str(tmp_path / "units")], facts=FACTS).load("env.service")
    assert loaded.config is not None
    assert [f"{k}={v}" for k, v in loaded.config.exec.environment.items()] == dump["Environment"]
