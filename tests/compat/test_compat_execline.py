from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compat.execline import argv_bytes, parse_environment, parse_exec
from compat.model import ExecFlag
from compat.words import Extract, cunescape, split_words


def ident(s: str) -> str:
    return s


def exec1(value: str) -> tuple[str, tuple[str, ...], ExecFlag]:
    parsed = parse_exec(value, ident, ident)
    assert parsed.problem is None, parsed.problem
    assert len(parsed.commands) == 1
    c = parsed.commands[0]
    return c.path, c.argv, c.flags


def test_words_quoting_and_escapes() -> None:
    flags = Extract.UNQUOTE | Extract.CUNESCAPE
    assert split_words('a "b c" \'d e\' f"g h"i', flags) == ["a", "b c", "d e", "fg hi"]
    assert split_words(r"a\tb \x41\101 \u00e4 \s", flags) == ["a\tb", "AA", "ä", " "]
    assert split_words(r'"a\"b"', flags) == ['a"b']
    with pytest.raises(ValueError):
        split_words('"unterminated', flags)
    with pytest.raises(ValueError):
        split_words(r"bad\q", flags)
    with pytest.raises(ValueError):
        split_words("trailing\\", flags)
    assert split_words(r"keep\q", flags | Extract.UNESCAPE_RELAX) == [r"keep\q"]
    assert split_words(r"a\ b", Extract.RETAIN_ESCAPE) == ["a\\", "b"]


def test_cunescape() -> None:
    assert cunescape(r"a\nb\x7e") == "a\nb~"
    with pytest.raises(ValueError):
        cunescape(r"\x00")


def test_exec_prefixes() -> None:
    assert exec1("/bin/true") == ("/bin/true", ("/bin/true",), ExecFlag.NONE)
    path, argv, flags = exec1("-@:/bin/sh zz -c 'echo $X'")
    assert (path, argv) == ("/bin/sh", ("zz", "-c", "echo $X"))
    assert flags == ExecFlag.IGNORE_FAILURE | ExecFlag.ARGV0 | ExecFlag.NO_ENV_EXPAND
    assert exec1("+/bin/x")[2] == ExecFlag.FULL_PRIVILEGES
    assert exec1("!/bin/x")[2] == ExecFlag.NO_SETUID
    assert exec1("!!/bin/x")[2] == ExecFlag.AMBIENT_PRIVILEGES
    assert exec1("//usr//bin/./env A=1")[:2] == ("/usr/bin/env", ("//usr//bin/./env", "A=1"))
    assert exec1("true x")[:2] == ("true", ("true", "x"))  # searched in PATH at exec time


def test_exec_semicolons() -> None:
    parsed = parse_exec(r"/bin/a 1 ; /bin/b \; 2 ;", ident, ident)
    assert parsed.problem is None
    assert [c.argv for c in parsed.commands] == [("/bin/a", "1"), ("/bin/b", ";", "2")]
    assert parse_exec("/bin/a x;y", ident, ident).commands[0].argv == ("/bin/a", "x;y")


def test_exec_raw_bytes() -> None:
    parsed = parse_exec(r"/bin/echo \xff\303\244", ident, ident)
    assert argv_bytes(parsed.commands[0]) == [b"/bin/echo", b"\xff\xc3\xa4"]


def test_exec_unknown_escapes_are_kept_with_a_warning() -> None:
    parsed = parse_exec("/bin/echo a\\qb \\", ident, ident)
    assert parsed.commands[0].argv == ("/bin/echo", "a\\qb", "\\")
    assert parsed.warnings == ['Ignoring unknown escape sequences: "a\\qb"',
                               'Ignoring unknown escape sequences: "\\"']


@pytest.mark.parametrize(
    ("value", "fatal", "message"),
    [
        ("/bin/", True, "Executable path specifies a directory: /bin/"),
        ("-/bin/", False, "Executable path specifies a directory, ignoring: /bin/"),
        ("@/bin/true", True, "Empty executable name or zeroeth argument: @/bin/true"),
        ("-", False, "Empty path in command line, ignoring: '-'"),
        ("/bin/echo 'x", True, "Unbalanced quoting, ignoring: \"/bin/echo 'x\""),
        ("'/bin/x", False, "Unbalanced quoting, ignoring: \"'/bin/x\""),
        ("'/bin/x\"y'", True, 'Executable name contains special characters: /bin/x"y'),
        ("a/b", True, "Neither a valid executable name nor an absolute path: a/b"),
    ],
)
def test_exec_problems(value: str, fatal: bool, message: str) -> None:
    parsed = parse_exec(value, ident, ident)
    assert parsed.commands == []
    assert parsed.problem is not None
    assert (parsed.problem.fatal, parsed.problem.message) == (fatal, message)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=list("/ab -@:+!;\\\"'xn0"), max_size=40))
def test_exec_never_raises(value: str) -> None:
    parsed = parse_exec(value, ident, ident)
    assert all(c.argv for c in parsed.commands)


def test_environment() -> None:
    assignments, problems = parse_environment(r'A=1 "B=two words" C=\x41 =bad 1X=y D', ident)
    assert assignments == [("A", "1"), ("B", "two words"), ("C", "A")]
    assert problems == [
        "Invalid environment assignment, ignoring: =bad",
        "Invalid environment assignment, ignoring: 1X=y",
        "Invalid environment assignment, ignoring: D",
    ]
