from __future__ import annotations

from pathlib import Path

import pytest
from compat_helpers import analyze_verify, needs_analyze
from hypothesis import given, settings
from hypothesis import strategies as st

from compat.model import Severity
from compat.syntax import decode, parse

SECTIONS = {"Unit", "Service", "Install"}


def kv(text: str) -> list[tuple[str, str, str, int]]:
    result = parse(text, "t.service", SECTIONS)
    return [(a.section, a.key, a.value, a.line) for a in result.assignments]


def messages(text: str) -> list[str]:
    return [str(d) for d in parse(text, "t.service", SECTIONS).diagnostics]


def test_sections_comments_whitespace() -> None:
    text = "# comment\n; other\n[Unit]\n  Description = hello world  \n\n[Service]\nExecStart=/bin/true\n"
    assert kv(text) == [
        ("Unit", "Description", "hello world", 4),
        ("Service", "ExecStart", "/bin/true", 7),
    ]


def test_repeated_keys_and_empty_values_are_kept_in_order() -> None:
    assert kv("[Unit]\nAfter=a.service\nAfter=\nAfter=b.service\n") == [
        ("Unit", "After", "a.service", 2),
        ("Unit", "After", "", 3),
        ("Unit", "After", "b.service", 4),
    ]


def test_continuation_joins_with_a_space_and_skips_comment_lines() -> None:
    text = "[Service]\nExecStart=/bin/echo a \\\n# a comment inside\n  b\\\nc\n"
    # The assignment is reported at its last physical line, as systemd does.
    assert kv(text) == [("Service", "ExecStart", "/bin/echo a    b c", 5)]


def test_escaped_backslash_does_not_continue() -> None:
    assert kv("[Service]\nExecStart=/bin/echo a\\\\\nX-Foo=1\n") == [
        ("Service", "ExecStart", "/bin/echo a\\\\", 2),
        ("Service", "X-Foo", "1", 3),
    ]


def test_continuation_at_end_of_file() -> None:
    assert kv("[Unit]\nDescription=a\\") == [("Unit", "Description", "a", 3)]


def test_line_endings_cr_crlf_nul() -> None:
    assert kv("[Unit]\rA=1\r\nB=2\0C=3\n") == [
        ("Unit", "A", "1", 2),
        ("Unit", "B", "2", 3),
        ("Unit", "C", "3", 4),
    ]


def test_bom_is_skipped() -> None:
    assert kv("\ufeff[Unit]\nA=1\n") == [("Unit", "A", "1", 2)]


def test_warnings_are_systemd_messages() -> None:
    text = "A=b\n[Unit]\nnoequals\n=v\n[Weird]\nK=v\n[X-Mine]\nK=v\n"
    assert messages(text) == [
        "t.service:1: Assignment outside of section. Ignoring.",
        "t.service:3: Missing '=', ignoring line.",
        "t.service:4: Missing key name before '=', ignoring line.",
        "t.service:5: Unknown section 'Weird'. Ignoring.",
    ]
    assert kv(text) == []


@pytest.mark.parametrize(
    ("text", "reason", "message"),
    [
        ("[Unit]\n[Servic\n", "Bad message", "t.service:2: Invalid section header '[Servic'"),
        ("[Unit\n", "Bad message", "t.service:1: Invalid section header '[Unit'"),
        ("[U\"x]\n", "Bad message", "t.service:1: Bad characters in section header '[U\"x]'"),
    ],
)
def test_fatal_errors(text: str, reason: str, message: str) -> None:
    result = parse(text, "t.service", SECTIONS)
    assert result.fatal == reason
    assert [str(d) for d in result.diagnostics] == [message]
    assert result.diagnostics[0].severity is Severity.ERROR


def test_invalid_utf8_rejects_the_file() -> None:
    result = parse(decode(b"[Unit]\nDescription=x\xff\n"), "t.service", SECTIONS)
    assert result.fatal == "Invalid argument"
    assert "String is not UTF-8 clean" in result.diagnostics[0].message


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("[]=#;\\ \t\r\n\0abcUnitServicé")), max_size=200))
def test_never_raises(text: str) -> None:
    result = parse(text, "t.service", SECTIONS)
    assert all(a.line >= 1 for a in result.assignments)


@needs_analyze
def test_messages_match_systemd_analyze(tmp_path: Path) -> None:
    text = (
        "A=b\n[Unit]\nDescription=x\nnoequals\n=v\nAfter=a.service \\\n# c\n  b.service\n"
        "[Weird]\nK=v\n[Service]\nExecStart=/bin/true\n"
    )
    (tmp_path / "t.service").write_text(text)
    ours = [str(d).replace("t.service", str(tmp_path / "t.service"), 1) for d in parse(
        text, "t.service", SECTIONS).diagnostics]
    assert analyze_verify(tmp_path, "t.service") == ours


def test_overlong_lines_reject_the_file_quickly() -> None:
    long_line = parse("[Unit]\nDescription=" + "y" * (1 << 20) + "\n", "t.service", SECTIONS)
    assert long_line.fatal == "No buffer space available"
    assert [str(d) for d in long_line.diagnostics] == ["t.service:1: Line too long"]
    # 600000 continued lines: linear, not quadratic (systemd 252 itself takes minutes here).
    continued = parse("[Unit]\nDescription=a\\\n" + "x\\\n" * 600000 + "end\n", "t.service", SECTIONS)
    assert continued.fatal == "No buffer space available"
    assert continued.diagnostics[0].message == "Continuation line too long"


def test_bom_is_stripped_until_one_is_seen() -> None:
    assert kv("[Unit]\n\ufeffA=1\n\ufeffB=2\n") == [("Unit", "A", "1", 2), ("Unit", "\ufeffB", "2", 3)]
