"""Each key with each operator: the token it compiles to and udevd 252's diagnostics.

The expectations were checked against systemd-udevd 252 (see test_udevd_oracle.py, which asks
it directly for a superset of these lines).
"""

from __future__ import annotations

import pytest
from udev_rules_helpers import compile_rules

from udev_rules_translator import Builtin, LineFlags, Operator, TokenType

RUN = ', RUN+="x"'  # gives a line with only matches an effect, so it is kept
E, W, N = "error", "warning", "notice"
INVALID_OP = "Invalid operator for {}."
INVALID_ATTR = "Invalid attribute for {}."

# (line, expected tokens as (type, op) excluding the RUN helper, or None when dropped, diagnostics)
CASES: list[tuple[str, list[tuple[str, str]] | None, list[tuple[str, str]]]] = []


def simple_match_cases(key: str, token: str) -> None:
    for op in ("==", "!="):
        CASES.append((f'{key}{op}"a"{RUN}', [(token, op)], []))
    for op in ("=", "+=", "-=", ":="):
        CASES.append((f'{key}{op}"a"{RUN}', None, [(E, INVALID_OP.format(key))]))
    CASES.append((f'{key}{{x}}=="a"{RUN}', None, [(E, INVALID_ATTR.format(key))]))


for key, token in [
    ("ACTION", "M_ACTION"),
    ("DEVPATH", "M_DEVPATH"),
    ("KERNEL", "M_KERNEL"),
    ("DRIVER", "M_DRIVER"),
    ("KERNELS", "M_PARENTS_KERNEL"),
    ("SUBSYSTEMS", "M_PARENTS_SUBSYSTEM"),
    ("DRIVERS", "M_PARENTS_DRIVER"),
    ("TAGS", "M_PARENTS_TAG"),
    ("RESULT", "M_RESULT"),
    ("SUBSYSTEM", "M_SUBSYSTEM"),
]:
    simple_match_cases(key, token)

CASES += [
    # SUBSYSTEM's legacy spellings
    (f'SUBSYSTEM=="bus"{RUN}', [("M_SUBSYSTEM", "==")], [(W, '"bus" must be specified as "subsystem".')]),
    (f'SUBSYSTEM=="class"{RUN}', [("M_SUBSYSTEM", "==")], [(W, '"class" must be specified as "subsystem".')]),
    # SYMLINK
    (f'SYMLINK=="a"{RUN}', [("M_DEVLINK", "==")], []),
    ('SYMLINK+="disk/a"', [("A_DEVLINK", "+=")], []),
    ('SYMLINK="a"', [("A_DEVLINK", "=")], []),
    ('SYMLINK:="a"', [("A_DEVLINK", ":=")], []),
    ('SYMLINK-="a"', None, [(E, INVALID_OP.format("SYMLINK"))]),
    ('SYMLINK{x}="a"', None, [(E, INVALID_ATTR.format("SYMLINK"))]),
    (
        'SYMLINK+="a$foo"',
        [("A_DEVLINK", "+=")],
        [(E, 'Invalid value "a$foo" for SYMLINK (char 2: invalid substitution type), ignoring.')],
    ),
    # NAME
    (f'NAME=="eth0"{RUN}', [("M_NAME", "==")], []),
    ('NAME="eth0"', [("A_NAME", "=")], []),
    ('NAME:="eth0"', [("A_NAME", ":=")], []),
    ('NAME+="eth0"', [("A_NAME", "=")], [(W, "NAME key takes '==', '!=', '=', or ':=' operator, assuming '='.")]),
    ('NAME-="eth0"', None, [(E, INVALID_OP.format("NAME"))]),
    ('NAME="%k"', None, [(E, 'Ignoring NAME="%k", as it will take no effect.')]),
    ('NAME=""', None, [(E, 'Ignoring NAME="", as udev will not delete any network interfaces.')]),
    # ENV
    (f'ENV{{ID}}=="a"{RUN}', [("M_ENV", "==")], []),
    ('ENV{ID}="a"', [("A_ENV", "=")], []),
    ('ENV{ID}+="a"', [("A_ENV", "+=")], []),
    ('ENV{ID}:="a"', [("A_ENV", "=")], [(W, "ENV key takes '==', '!=', '=', or '+=' operator, assuming '='.")]),
    ('ENV{ID}-="a"', None, [(E, INVALID_OP.format("ENV"))]),
    ('ENV="a"', None, [(E, INVALID_ATTR.format("ENV"))]),
    ('ENV{}="a"', None, [(E, INVALID_ATTR.format("ENV"))]),
    ('ENV{DEVNAME}="a"', None, [(E, "Invalid ENV attribute. 'DEVNAME' cannot be set.")]),
    (f'ENV{{DEVNAME}}=="a"{RUN}', [("M_ENV", "==")], []),
    # CONST
    (f'CONST{{arch}}=="x86-64"{RUN}', [("M_CONST", "==")], []),
    (f'CONST{{virt}}!="none"{RUN}', [("M_CONST", "!=")], []),
    (f'CONST{{foo}}=="a"{RUN}', None, [(E, INVALID_ATTR.format("CONST"))]),
    ('CONST{arch}="a"', None, [(E, INVALID_OP.format("CONST"))]),
    # TAG
    (f'TAG=="a"{RUN}', [("M_TAG", "==")], []),
    ('TAG+="a"', [("A_TAG", "+=")], []),
    ('TAG-="a"', [("A_TAG", "-=")], []),
    ('TAG="a"', [("A_TAG", "=")], []),
    ('TAG:="a"', [("A_TAG", "=")], [(W, "TAG key takes '==', '!=', '=', or '+=' operator, assuming '='.")]),
    ('TAG+=""', [("A_TAG", "+=")], [(E, 'Invalid value "" for TAG (char 0: empty value), ignoring.')]),
    ('TAG{x}+="a"', None, [(E, INVALID_ATTR.format("TAG"))]),
    # ATTR
    (f'ATTR{{size}}=="0"{RUN}', [("M_ATTR", "==")], []),
    ('ATTR{power/control}="auto"', [("A_ATTR", "=")], []),
    ('ATTR{x}+="1"', [("A_ATTR", "=")], [(W, "ATTR key takes '==', '!=', or '=' operator, assuming '='.")]),
    ('ATTR{x}:="1"', [("A_ATTR", "=")], [(W, "ATTR key takes '==', '!=', or '=' operator, assuming '='.")]),
    ('ATTR{x}-="1"', None, [(E, INVALID_OP.format("ATTR"))]),
    ('ATTR="1"', None, [(E, INVALID_ATTR.format("ATTR"))]),
    (
        f'ATTR{{$foo}}=="1"{RUN}',
        [("M_ATTR", "==")],
        [(E, 'Invalid attribute "$foo" for ATTR (char 1: invalid substitution type), ignoring.')],
    ),
    # SYSCTL
    (f'SYSCTL{{kernel/x}}=="1"{RUN}', [("M_SYSCTL", "==")], []),
    ('SYSCTL{kernel/x}="1"', [("A_SYSCTL", "=")], []),
    (
        'SYSCTL{kernel/x}+="1"',
        [("A_SYSCTL", "=")],
        [(W, "SYSCTL key takes '==', '!=', or '=' operator, assuming '='.")],
    ),
    ('SYSCTL{kernel/x}-="1"', None, [(E, INVALID_OP.format("SYSCTL"))]),
    ('SYSCTL="1"', None, [(E, INVALID_ATTR.format("SYSCTL"))]),
    # ATTRS
    (f'ATTRS{{vendor}}=="0x8086"{RUN}', [("M_PARENTS_ATTR", "==")], []),
    ('ATTRS{vendor}="1"', None, [(E, INVALID_OP.format("ATTRS"))]),
    (
        f'ATTRS{{device/x}}=="1"{RUN}',
        [("M_PARENTS_ATTR", "==")],
        [(W, "'device' link may not be available in future kernels.")],
    ),
    (
        f'ATTRS{{../x}}=="1"{RUN}',
        [("M_PARENTS_ATTR", "==")],
        [(W, "Direct reference to parent sysfs directory, may break in future kernels.")],
    ),
    # TEST
    (f'TEST=="/x"{RUN}', [("M_TEST", "==")], []),
    (f'TEST{{0644}}!="/x"{RUN}', [("M_TEST", "!=")], []),
    (f'TEST{{999}}=="/x"{RUN}', None, [(E, "Failed to parse mode '999': Invalid argument")]),
    (f'TEST{{77777}}=="/x"{RUN}', None, [(E, "Failed to parse mode '77777': Numerical result out of range")]),
    ('TEST="/x"', None, [(E, INVALID_OP.format("TEST"))]),
    (f'TEST==""{RUN}', [("M_TEST", "==")], [(E, 'Invalid value "" for TEST (char 0: empty value), ignoring.')]),
    # PROGRAM: any assignment operator is read as ==
    ('PROGRAM=="/bin/x"', [("M_PROGRAM", "==")], []),
    ('PROGRAM="/bin/x"', [("M_PROGRAM", "==")], []),
    ('PROGRAM+="/bin/x"', [("M_PROGRAM", "==")], []),
    ('PROGRAM!="/bin/x"', [("M_PROGRAM", "!=")], []),
    ('PROGRAM-="/bin/x"', None, [(E, INVALID_OP.format("PROGRAM"))]),
    ('PROGRAM{x}=="/bin/x"', None, [(E, INVALID_ATTR.format("PROGRAM"))]),
    # IMPORT
    ('IMPORT{program}="/bin/x"', [("M_IMPORT_PROGRAM", "==")], []),
    ('IMPORT{program}="path_id %p"', [("M_IMPORT_BUILTIN", "==")], []),
    ('IMPORT{builtin}="usb_id"', [("M_IMPORT_BUILTIN", "==")], []),
    ('IMPORT{builtin}!="usb_id"', [("M_IMPORT_BUILTIN", "!=")], []),
    ('IMPORT{builtin}="nosuch"', None, [(E, "Unknown builtin command: nosuch")]),
    ('IMPORT{file}="/x"', [("M_IMPORT_FILE", "==")], []),
    ('IMPORT{db}="ID_X"', [("M_IMPORT_DB", "==")], []),
    ('IMPORT{cmdline}="quiet"', [("M_IMPORT_CMDLINE", "==")], []),
    ('IMPORT{parent}="ID_*"', [("M_IMPORT_PARENT", "==")], []),
    ('IMPORT{foo}="x"', None, [(E, INVALID_ATTR.format("IMPORT"))]),
    ('IMPORT="x"', None, [(E, INVALID_ATTR.format("IMPORT"))]),
    ('IMPORT{db}-="x"', None, [(E, INVALID_OP.format("IMPORT"))]),
    # OPTIONS
    ('OPTIONS+="watch"', [("A_OPTIONS_INOTIFY_WATCH", "=")], []),
    ('OPTIONS:="nowatch"', [("A_OPTIONS_INOTIFY_WATCH", ":=")], []),
    ('OPTIONS+="string_escape=none"', [("A_OPTIONS_STRING_ESCAPE_NONE", "=")], []),
    ('OPTIONS+="string_escape=replace"', [("A_OPTIONS_STRING_ESCAPE_REPLACE", "=")], []),
    ('OPTIONS+="db_persist"', [("A_OPTIONS_DB_PERSIST", "=")], []),
    ('OPTIONS+="static_node=kvm"', [("A_OPTIONS_STATIC_NODE", "=")], []),
    ('OPTIONS+="link_priority=-100"', [("A_OPTIONS_DEVLINK_PRIORITY", "=")], []),
    ('OPTIONS+="link_priority=x"', None, [(E, "Failed to parse link priority 'x': Invalid argument")]),
    ('OPTIONS+="log_level=debug"', [("A_OPTIONS_LOG_LEVEL", "=")], []),
    ('OPTIONS+="log_level=loud"', None, [(E, "Failed to parse log level 'loud': Invalid argument")]),
    ('OPTIONS+="bogus", TAG+="a"', [("A_TAG", "+=")], [(W, "Invalid value for OPTIONS key, ignoring: 'bogus'")]),
    ('OPTIONS=="watch"', None, [(E, INVALID_OP.format("OPTIONS"))]),
    ('OPTIONS-="watch"', None, [(E, INVALID_OP.format("OPTIONS"))]),
    ('OPTIONS{x}="watch"', None, [(E, INVALID_ATTR.format("OPTIONS"))]),
    # OWNER / GROUP / MODE
    ('OWNER="root"', [("A_OWNER_ID", "=")], []),
    ('OWNER="1000"', [("A_OWNER_ID", "=")], []),
    ('OWNER:="nobody"', [("A_OWNER_ID", ":=")], []),
    ('OWNER="ghost"', [("A_OWNER_ID", "=")], [(E, "Unknown user 'ghost', ignoring")]),
    ('OWNER="$env{OWNER}"', [("A_OWNER", "=")], []),
    ('OWNER+="root"', [("A_OWNER_ID", "=")], [(W, "OWNER key takes '=' or ':=' operator, assuming '='.")]),
    ('OWNER=="root"', None, [(E, INVALID_OP.format("OWNER"))]),
    ('OWNER-="root"', None, [(E, INVALID_OP.format("OWNER"))]),
    ('GROUP="disk"', [("A_GROUP_ID", "=")], []),
    ('GROUP="ghosts"', [("A_GROUP_ID", "=")], [(E, "Unknown group 'ghosts', ignoring")]),
    ('GROUP+="disk"', [("A_GROUP_ID", "=")], [(W, "GROUP key takes '=' or ':=' operator, assuming '='.")]),
    ('GROUP!="disk"', None, [(E, INVALID_OP.format("GROUP"))]),
    ('MODE="0660"', [("A_MODE_ID", "=")], []),
    ('MODE:="600"', [("A_MODE_ID", ":=")], []),
    ('MODE="$env{M}"', [("A_MODE", "=")], []),
    ('MODE="rw"', [("A_MODE", "=")], []),
    ('MODE=""', [("A_MODE", "=")], [(E, 'Invalid value "" for MODE (char 0: empty value), ignoring.')]),
    ('MODE+="0660"', [("A_MODE_ID", "=")], [(W, "MODE key takes '=' or ':=' operator, assuming '='.")]),
    ('MODE=="0660"', None, [(E, INVALID_OP.format("MODE"))]),
    # SECLABEL
    ('SECLABEL{selinux}="x"', [("A_SECLABEL", "=")], []),
    ('SECLABEL{selinux}+="x"', [("A_SECLABEL", "+=")], []),
    ('SECLABEL{selinux}:="x"', [("A_SECLABEL", "=")], [(W, "SECLABEL key takes '=' or '+=' operator, assuming '='.")]),
    ('SECLABEL{selinux}-="x"', None, [(E, INVALID_OP.format("SECLABEL"))]),
    ('SECLABEL="x"', None, [(E, INVALID_ATTR.format("SECLABEL"))]),
    # RUN
    ('RUN+="/bin/x"', [("A_RUN_PROGRAM", "+=")], []),
    ('RUN="/bin/x"', [("A_RUN_PROGRAM", "=")], []),
    ('RUN:="/bin/x"', [("A_RUN_PROGRAM", ":=")], []),
    ('RUN{program}+="/bin/x"', [("A_RUN_PROGRAM", "+=")], []),
    ('RUN{builtin}+="kmod load x"', [("A_RUN_BUILTIN", "+=")], []),
    ('RUN{builtin}+="nosuch"', None, [(E, "Unknown builtin command 'nosuch', ignoring")]),
    ('RUN{foo}+="x"', None, [(E, INVALID_ATTR.format("RUN"))]),
    ('RUN=="x"', None, [(E, INVALID_OP.format("RUN"))]),
    ('RUN-="x"', None, [(E, INVALID_OP.format("RUN"))]),
    ('RUN+=""', [("A_RUN_PROGRAM", "+=")], [(E, 'Invalid value "" for RUN (char 0: empty value), ignoring.')]),
    # GOTO / LABEL
    ('LABEL="end"', [], []),
    ('LABEL=="end"', None, [(E, INVALID_OP.format("LABEL"))]),
    ('LABEL+="end"', None, [(E, INVALID_OP.format("LABEL"))]),
    ('LABEL{x}="end"', None, [(E, INVALID_ATTR.format("LABEL"))]),
    ('GOTO=="end"', None, [(E, INVALID_OP.format("GOTO"))]),
    ('GOTO{x}="end"', None, [(E, INVALID_ATTR.format("GOTO"))]),
    # unknown keys and lines without effect
    ('FOO="x"', None, [(E, "Invalid key 'FOO'")]),
    ('KERNEL=="sda"', None, [(W, "The line takes no effect, ignoring.")]),
]


@pytest.mark.parametrize(("line", "tokens", "expected"), CASES, ids=[c[0] for c in CASES])
def test_key_operator(line: str, tokens: list[tuple[str, str]] | None, expected: list[tuple[str, str]]) -> None:
    compiled = compile_rules(line + '\nLABEL="end"\n')
    line_diags = [(d.severity.label, d.message) for d in compiled.diagnostics if d.line == 1]
    assert line_diags == expected
    first = [ln for ln in compiled.lines if ln.line_number == 1]
    if tokens is None:
        assert first == []
        return
    (rule,) = first
    got = [(t.type.name, t.op.value) for t in rule.tokens if not (t.type is TokenType.A_RUN_PROGRAM and t.value == "x")]
    assert got == tokens


def test_goto_resolves_to_the_label_line_index() -> None:
    compiled = compile_rules('KERNEL=="a", GOTO="end"\nRUN+="x"\nLABEL="end"\n')
    assert compiled.diagnostics == ()
    assert compiled.lines[0].goto == 2 and compiled.lines[2].label == "end"
    assert compiled.lines[0].flags == LineFlags.HAS_GOTO


def test_goto_only_looks_forward_and_takes_the_first_label() -> None:
    compiled = compile_rules('LABEL="a"\nGOTO="a"\nLABEL="a", TAG+="1"\nLABEL="a", TAG+="2"\n')
    assert [ln.goto for ln in compiled.lines] == [None, 2, None, None]


def test_goto_without_label_is_an_error_and_a_bare_goto_line_is_dropped() -> None:
    compiled = compile_rules('GOTO="nowhere"\nKERNEL=="a", GOTO="nowhere", TAG+="t"\nGOTO="x", LABEL="y"\n')
    assert [(d.line, d.severity.label, d.message) for d in compiled.diagnostics] == [
        (1, E, 'GOTO="nowhere" has no matching label, ignoring'),
        (1, N, "The line takes no effect any more, dropping"),
        (2, E, 'GOTO="nowhere" has no matching label, ignoring'),
        (3, E, 'GOTO="x" has no matching label, ignoring'),
        (3, N, "The line takes no effect any more, dropping"),
    ]
    assert [(ln.line_number, ln.goto, len(ln.tokens), ln.label) for ln in compiled.lines] == [
        (2, None, 2, None),
        (3, None, 0, "y"),
    ]


def test_second_goto_is_ignored_with_a_warning() -> None:
    compiled = compile_rules('GOTO="a", GOTO="b"\nLABEL="a"\nLABEL="b"\n')
    assert [(d.severity.label, d.message) for d in compiled.diagnostics] == [
        (W, 'Contains multiple GOTO keys, ignoring GOTO="b".')
    ]
    assert compiled.lines[0].goto == 1


def test_tokens_are_in_udevd_order_not_textual_order() -> None:
    (line,) = compile_rules('RUN+="r", ATTRS{a}=="1", KERNEL=="k", ACTION=="add", TAG+="t", KERNEL=="k2"').lines
    assert [t.type.name for t in line.tokens] == [
        "M_ACTION",
        "M_KERNEL",
        "M_KERNEL",
        "M_PARENTS_ATTR",
        "A_TAG",
        "A_RUN_PROGRAM",
    ]
    assert [t.value for t in line.tokens][1:3] == ["k", "k2"]


def test_line_flags_say_what_a_line_can_do() -> None:
    lines = compile_rules(
        'NAME="x"\nSYMLINK+="y"\nMODE="0600"\nOPTIONS+="static_node=kvm"\nIMPORT{db}="A"\n'
        'PROGRAM=="/p"\nTAG+="t", LABEL="l"\n'
    ).lines
    assert [ln.flags for ln in lines] == [
        LineFlags.HAS_NAME,
        LineFlags.HAS_DEVLINK,
        LineFlags.HAS_DEVLINK,
        LineFlags.HAS_STATIC_NODE,
        LineFlags.UPDATE_SOMETHING,
        LineFlags.UPDATE_SOMETHING,
        LineFlags.UPDATE_SOMETHING | LineFlags.HAS_LABEL,
    ]


def test_builtins_are_resolved_by_prefix_like_udevd() -> None:
    (line,) = compile_rules('IMPORT{builtin}="path", IMPORT{builtin}="blkid --noraid", RUN{builtin}+="kmod load"').lines
    assert [t.builtin for t in line.tokens] == [Builtin.PATH_ID, Builtin.BLKID, Builtin.KMOD]
    assert [t.builtin.run_once for t in line.tokens if t.builtin] == [True, True, False]


def test_numbers_are_parsed() -> None:
    (line,) = compile_rules(
        'TEST{0644}=="/x", OWNER="1000", GROUP="disk", MODE="0660", OPTIONS+="link_priority=0x10", '
        'OPTIONS+="log_level=reset", OPTIONS+="nowatch"'
    ).lines
    assert {t.type.name: t.number for t in line.tokens} == {
        "M_TEST": 0o644,
        "A_OWNER_ID": 1000,
        "A_GROUP_ID": 6,
        "A_MODE_ID": 0o660,
        "A_OPTIONS_DEVLINK_PRIORITY": 16,
        "A_OPTIONS_LOG_LEVEL": -1,
        "A_OPTIONS_INOTIFY_WATCH": 0,
    }


def test_resolve_names_late_and_never() -> None:
    from udev_rules_translator import CompileOptions, ResolveNames, compile_text

    late = compile_text("f", b'OWNER="root", GROUP="disk"', CompileOptions(ResolveNames.LATE))
    assert [t.type.name for t in late.lines[0].tokens] == ["A_OWNER", "A_GROUP"]
    never = compile_text("f", b'OWNER="root", GROUP="disk", OWNER="0"', CompileOptions(ResolveNames.NEVER))
    assert [t.type.name for t in never.lines[0].tokens] == ["A_OWNER_ID"]
    assert [(d.severity.label, d.message) for d in never.diagnostics] == [
        ("debug", "User name resolution is disabled, ignoring OWNER=root"),
        ("debug", 'Resolving group name is disabled, ignoring GROUP="disk"')]  # udevd's words


def test_op_assign_keeps_operators_distinct_for_the_executor() -> None:
    (line,) = compile_rules('SYMLINK="a", SYMLINK+="b", SYMLINK:="c"').lines
    assert [t.op for t in line.tokens] == [Operator.ASSIGN, Operator.ADD, Operator.ASSIGN_FINAL]
