"""Lexing: lines, continuations, comments, the line limit, KEY{attr} OP "value", escapes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from udev_rules_helpers import compile_rules, diags

from udev_rules_translator import Operator
from udev_rules_translator.diagnostics import DiagnosticSink
from udev_rules_translator.lexer import LINE_SIZE, InvalidPair, logical_lines, pairs
from udev_rules_translator.render import quote


def lines_of(data: bytes) -> list[tuple[int, bytes]]:
    return [(ll.number, ll.text) for ll in logical_lines(data, DiagnosticSink("x"))]


def test_comments_blank_lines_and_leading_whitespace_are_skipped() -> None:
    assert lines_of(b"# c\n\n   \n\t# c2\n  A\n") == [(5, b"A")]


def test_backslash_joins_lines_and_reports_the_last_line_number() -> None:
    assert lines_of(b'KERNEL=="a", \\\n   RUN+="b"\nX\n') == [(2, b'KERNEL=="a", RUN+="b"'), (3, b"X")]


def test_comment_inside_a_continuation_is_skipped_and_the_continuation_goes_on() -> None:
    assert lines_of(b"A \\\n# note\nB\n") == [(3, b"A B")]


def test_continuation_at_end_of_file_is_dropped_like_udevd() -> None:
    assert lines_of(b"A \\\n") == []


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"A\r\nB", [(1, b"A"), (2, b"B")]),
        (b"A\rB", [(1, b"A"), (2, b"B")]),
        (b"A\n\rB", [(1, b"A"), (2, b"B")]),
        (b"A\0B", [(1, b"A"), (2, b"B")]),
        (b"A\n\nB", [(1, b"A"), (3, b"B")]),
        (b"A\r\n\0B", [(1, b"A"), (2, b"B")]),
    ],
)
def test_line_endings_follow_read_line(data: bytes, expected: list[tuple[int, bytes]]) -> None:
    assert lines_of(data) == expected


def test_too_long_line_is_dropped_with_an_error_and_the_rest_of_the_file_loads() -> None:
    data = b'KERNEL=="' + b"a" * LINE_SIZE + b'", RUN+="x"\nKERNEL=="b", RUN+="y"\n'
    compiled = compile_rules(data)
    assert [str(d) for d in compiled.diagnostics] == [
        "/etc/udev/rules.d/10-test.rules:1: error: Line is too long, ignored"
    ]
    assert [line.line_number for line in compiled.lines] == [2]


def test_continued_line_over_the_limit_is_dropped_as_a_whole() -> None:
    half = b"a" * (LINE_SIZE // 2)
    data = b'RUN+="' + half + b'" \\\n' + b'RUN+="' + half + b'"\nTAG+="ok"\n'
    compiled = compile_rules(data)
    assert [(d.line, d.message) for d in compiled.diagnostics] == [(2, "Line is too long, ignored")]
    assert [line.line_number for line in compiled.lines] == [3]


def test_line_just_under_the_limit_loads() -> None:
    value = b"a" * (LINE_SIZE - len(b'RUN+=""') - 1)
    compiled = compile_rules(b'RUN+="' + value + b'"\n')
    assert compiled.diagnostics == () and len(compiled.lines) == 1


def p(text: bytes) -> list[tuple[str, str | None, str, str]]:
    return [(x.key, x.attr, x.op.value, x.value) for x in pairs(text)]


def test_pairs_with_and_without_commas_and_spaces() -> None:
    assert p(b'KERNEL=="a"RUN+="b" ,, ENV{X} := "c",') == [
        ("KERNEL", None, "==", "a"),
        ("RUN", None, "+=", "b"),
        ("ENV", "X", ":=", "c"),
    ]


def test_every_operator() -> None:
    got = [x.op.value for x in pairs(b'A=="1" B!="2" C+="3" D-="4" E="5" F:="6"')]
    assert got == [op.value for op in Operator] == ["==", "!=", "+=", "-=", "=", ":="]


def test_plain_strings_unescape_only_quotes() -> None:
    assert p(rb'RUN+="a\"b\n\\c"') == [("RUN", None, "+=", 'a"b\\n\\\\c')]


def test_e_strings_are_c_escaped() -> None:
    assert p(rb'RUN+=e"\x41\t\s\101\u00e9\"\\"') == [("RUN", None, "+=", 'A\t Aé"\\')]


def test_e_string_non_utf8_bytes_survive() -> None:
    (pair,) = pairs(rb'RUN+=e"\xff"')
    assert pair.value.encode("utf-8", "surrogateescape") == b"\xff"


@pytest.mark.parametrize(
    "text",
    [
        b"KERNEL",
        b'KERNEL=="a',
        b"KERNEL==a",
        b'KERNEL{a=="x"',
        b'KERNEL ~ "x"',
        rb'RUN+=e"\q"',
        rb'RUN+=e"\x00"',
        rb'RUN+=e"\UFFFFFFFF"',
        rb'RUN+="a\"',
    ],
)
def test_malformed_pairs_raise(text: bytes) -> None:
    with pytest.raises(InvalidPair):
        list(pairs(text))


def test_malformed_pair_drops_the_line_after_reporting_earlier_keys() -> None:
    assert diags('NAME+="x", KERNEL\n') == [
        (1, "warning", "NAME key takes '==', '!=', '=', or ':=' operator, assuming '='."),
        (1, "error", "Invalid key/value pair, ignoring."),
    ]
    assert compile_rules('NAME+="x", KERNEL\n').lines == ()


# --- properties ----------------------------------------------------------------------------------

_RULE_BYTES = st.lists(
    st.sampled_from(
        [
            b"KERNEL",
            b"ATTR{",
            b"}",
            b"==",
            b"=",
            b"+=",
            b'"',
            b'e"',
            b"\\",
            b"\n",
            b"\r",
            b"\0",
            b",",
            b" ",
            b"#",
            b"$",
            b"%",
            b"{",
            b"|",
            b"*",
            b"GOTO",
            b"LABEL",
            b"x",
            b"\xff",
            b"\\x4",
            b"IMPORT{program}",
        ]
    ),
    max_size=60,
).map(b"".join)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=400) | _RULE_BYTES)
def test_any_bytes_compile_without_exception(data: bytes) -> None:
    compiled = compile_rules(data)
    for line in compiled.lines:
        assert line.tokens or line.label is not None
        assert line.goto is None or 0 <= line.goto < len(compiled.lines)
    for d in compiled.diagnostics:
        assert str(d).startswith("/etc/udev/rules.d/10-test.rules:")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300) | _RULE_BYTES)
def test_logical_lines_never_exceed_the_limit_nor_contain_line_ends(data: bytes) -> None:
    for _, text in lines_of(data):
        assert len(text) < LINE_SIZE
        assert not set(text) & {0, 10, 13}
        assert not text.startswith((b"#", b" ", b"\t"))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=80).filter(lambda b: b"\0" not in b))
def test_quote_round_trips_any_value(raw: bytes) -> None:
    value = raw.decode("utf-8", "surrogateescape")
    (pair,) = pairs(b"RUN+=" + quote(value).encode("utf-8", "surrogateescape"))
    assert pair.value == value
