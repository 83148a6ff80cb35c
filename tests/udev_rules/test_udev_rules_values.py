"""Pre-parsed values: match patterns (alternatives, globs, "?*") and substitution templates."""

from __future__ import annotations

import fnmatch as py_fnmatch
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from udev_rules_helpers import compile_rules

from udev_rules_translator import AttrForm, Literal, MatchKind, Operator, Substitution, SubstKind, Token
from udev_rules_translator.glob import fnmatch
from udev_rules_translator.template import check, parse


def match_token(text: str) -> Token:
    (line,) = compile_rules(text + ', RUN+="x"').lines
    return line.tokens[0]


@pytest.mark.parametrize(
    ("rule", "kind", "yes", "no"),
    [
        ('KERNEL=="sda"', MatchKind.PLAIN, ["sda"], ["sdb", "", None, "sda1"]),
        ('KERNEL=="sda|sdb"', MatchKind.PLAIN, ["sda", "sdb"], ["sdc", "", "sda|sdb"]),
        ('KERNEL=="sd*"', MatchKind.GLOB, ["sd", "sdz9"], ["hda", ""]),
        ('KERNEL=="sd*|hd?"', MatchKind.GLOB, ["sdq", "hda"], ["hd", "hdab"]),
        ('KERNEL=="|sda"', MatchKind.PLAIN, ["", None, "sda"], ["sdb"]),
        ('KERNEL=="sd*|"', MatchKind.GLOB, ["", "sdx"], ["hd"]),
        ('KERNEL=="a||b"', MatchKind.PLAIN, ["", "a", "b"], ["c"]),
        ('KERNEL==""', MatchKind.EMPTY, ["", None], ["a"]),
        ('KERNEL!=""', MatchKind.EMPTY, ["a"], ["", None]),
        ('KERNEL=="?*"', MatchKind.EMPTY, ["a", "abc"], ["", None]),
        ('KERNEL!="?*"', MatchKind.EMPTY, ["", None], ["a"]),
        ('KERNEL!="sd*"', MatchKind.GLOB, ["hda", ""], ["sda"]),
        ('SUBSYSTEM=="subsystem"', MatchKind.SUBSYSTEM, ["subsystem", "bus", "class"], ["block"]),
        ('SUBSYSTEM=="subsystem|block"', MatchKind.PLAIN, ["subsystem", "block"], ["bus"]),
        ('KERNEL=="ttyS[0-9]"', MatchKind.GLOB, ["ttyS4"], ["ttyS", "ttySx"]),
        ('KERNEL=="[!a]*"', MatchKind.GLOB, ["b1"], ["a1"]),
        ('ATTR{x}=="a\\*"', MatchKind.GLOB, ["a*"], ["ab"]),
    ],
)
def test_match_semantics(rule: str, kind: MatchKind, yes: list[str | None], no: list[str | None]) -> None:
    token = match_token(rule)
    assert token.pattern is not None and token.pattern.kind is kind
    assert [token.matches(v) for v in yes] == [True] * len(yes)
    assert [token.matches(v) for v in no] == [False] * len(no)


def test_question_star_becomes_an_inverted_empty_match() -> None:
    token = match_token('ENV{ID_FS_TYPE}=="?*"')
    assert token.op is Operator.NOMATCH and token.pattern is not None and token.pattern.kind is MatchKind.EMPTY


def test_glob_decision_is_made_on_the_whole_value() -> None:
    token = match_token('KERNEL=="a*|b"')
    assert token.pattern is not None and token.pattern.kind is MatchKind.GLOB
    assert token.pattern.alternatives == ("a*", "b")


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        ("a\\*", "a*", True),  # glibc: backslash quotes
        ("a\\*", "ab", False),
        ("[[:digit:]]x", "7x", True),
        ("[[:alpha:]]", "7", False),
        ("[]]", "]", True),
        ("[!]]", "a", True),
        ("[^a]", "b", True),
        ("[a-c]", "b", True),
        ("a[", "a[", True),  # unclosed bracket is literal
        ("*", "a/b", True),  # no FNM_PATHNAME
        ("*", ".hidden", True),  # no FNM_PERIOD
        ("a?c", "a\nc", True),
        ("[?--]", "-", False),  # a reversed range holds nothing
        ("[?--]", "", False),
        ("x[!z-a]", "xq", True),
        ("*[z-a]*", "abc", False),
    ],
)
def test_fnmatch_follows_glibc(pattern: str, text: str, expected: bool) -> None:
    assert fnmatch(pattern, text) is expected


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ab*?[]!-", max_size=8), st.text(alphabet="ab-]!", max_size=6))
def test_fnmatch_agrees_with_python_without_backslashes(pattern: str, text: str) -> None:
    # Python's fnmatchcase and glibc agree wherever no backslash or class is involved
    if "[]" in pattern or "[!]" in pattern:
        return  # Python reads "[]" differently when it never closes; covered above
    assert fnmatch(pattern, text) == py_fnmatch.fnmatchcase(text, pattern)


def test_attr_forms_are_decided_at_compile_time() -> None:
    (line,) = compile_rules('ATTR{size}=="1", ATTRS{power/%k}=="2", ATTR{[dmi/id]product_name}=="3 ", RUN+="x"').lines
    plain, subsys, fmt = line.tokens[0], line.tokens[1], line.tokens[2]
    assert fmt.type.name == "M_PARENTS_ATTR"
    assert plain.attr_form is AttrForm.PLAIN and plain.remove_trailing_whitespace
    assert subsys.attr_form is AttrForm.SUBSYS and subsys.attr_ref is not None
    assert (subsys.attr_ref.subsystem, subsys.attr_ref.sysname, subsys.attr_ref.attr) == ("dmi", "id", "product_name")
    assert not subsys.remove_trailing_whitespace  # the pattern ends with a space
    assert fmt.attr_form is AttrForm.FORMAT and fmt.attr_template is not None
    assert fmt.attr_template.parts == (Literal("power/"), Substitution(SubstKind.KERNEL))


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("plain", (Literal("plain"),)),
        ("%k", (Substitution(SubstKind.KERNEL),)),
        ("$kernel", (Substitution(SubstKind.KERNEL),)),
        ("%n$number", (Substitution(SubstKind.KERNEL_NUMBER),) * 2),
        ("%p$devpath", (Substitution(SubstKind.DEVPATH),) * 2),
        ("%b$id", (Substitution(SubstKind.ID),) * 2),
        ("$driver", (Substitution(SubstKind.DRIVER),)),
        ("%s{size}$attr{size}$sysfs{size}", (Substitution(SubstKind.ATTR, "size"),) * 3),
        ("%E{ID}$env{ID}", (Substitution(SubstKind.ENV, "ID"),) * 2),
        (
            "%M$major%m$minor",
            (
                Substitution(SubstKind.MAJOR),
                Substitution(SubstKind.MAJOR),
                Substitution(SubstKind.MINOR),
                Substitution(SubstKind.MINOR),
            ),
        ),
        ("%c$result", (Substitution(SubstKind.RESULT),) * 2),
        ("%c{2}", (Substitution(SubstKind.RESULT, "2", 2, False),)),
        ("$result{3+}", (Substitution(SubstKind.RESULT, "3+", 3, True),)),
        ("%P$parent", (Substitution(SubstKind.PARENT),) * 2),
        ("%D$name", (Substitution(SubstKind.NAME),) * 2),
        ("%L$links", (Substitution(SubstKind.LINKS),) * 2),
        ("%r$root", (Substitution(SubstKind.ROOT),) * 2),
        ("%S$sys", (Substitution(SubstKind.SYS),) * 2),
        ("%N$devnode$tempnode", (Substitution(SubstKind.DEVNODE),) * 3),
        ("$$ %% a", (Literal("$ % a"),)),
        ("/dev/%k-x", (Literal("/dev/"), Substitution(SubstKind.KERNEL), Literal("-x"))),
        ("$foo %q", (Literal("$foo %q"),)),  # unknown: literal at event time
    ],
)
def test_templates_parse(text: str, parts: tuple[object, ...]) -> None:
    template = parse(text)
    assert template.parts == parts and template.error is None


@pytest.mark.parametrize(
    ("text", "kept", "offset", "hint"),
    [
        ("a$attr", (Literal("a"),), 6, "attribute value missing"),
        ("%E{}", (), 0, "invalid substitution type"),
        ("x$env{A", (Literal("x"),), 1, "invalid substitution type"),
        ("%c{two}", (), 7, "attribute value not a valid number"),
    ],
)
def test_invalid_substitutions_stop_formatting_and_are_reported(
    text: str, kept: tuple[object, ...], offset: int, hint: str
) -> None:
    template = parse(text)
    assert template.parts == kept and template.error is not None
    problem = check(text)
    assert problem is not None and (problem.offset, problem.hint) == (offset, hint)


def test_invalid_substitution_keeps_the_line_with_an_error() -> None:
    compiled = compile_rules('RUN+="/bin/x $foo"\n')
    assert [(d.severity.label, d.message) for d in compiled.diagnostics] == [
        ("error", 'Invalid value "/bin/x $foo" for RUN (char 8: invalid substitution type), ignoring.')
    ]
    assert len(compiled.lines) == 1


def test_match_values_are_not_templates() -> None:
    token = match_token('ENV{X}=="$kernel"')
    assert token.template is None and token.pattern is not None and token.pattern.alternatives == ("$kernel",)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="$%{}kncEs+0123 abattrenv", max_size=30))
def test_template_literal_parts_rebuild_the_text_without_substitutions(text: str) -> None:
    template = parse(text)
    if template.error is None and all(isinstance(p, Literal) for p in template.parts):
        assert "".join(p.text for p in template.parts if isinstance(p, Literal)) == text.replace("$$", "\0").replace(
            "%%", "\1"
        ).replace("\0", "$").replace("\1", "%")


def test_many_stars_on_a_long_value_do_not_backtrack_exponentially() -> None:
    start = time.monotonic()
    assert not fnmatch("*a*a*a*a*a*a*b", "a" * 4000)
    assert fnmatch("*a*a*a*a*a*a*b", "a" * 4000 + "b")
    assert time.monotonic() - start < 1


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="ab*?", max_size=10), st.text(alphabet="ab", max_size=10))
def test_multi_star_globs_agree_with_python(pattern: str, text: str) -> None:
    assert fnmatch(pattern, text) == py_fnmatch.fnmatchcase(text, pattern)
