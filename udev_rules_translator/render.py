"""Compiled tokens back to rules syntax: ``KEY{attr}OP"value"``, one canonical spelling."""

from __future__ import annotations

from udev_rules_translator.model import Operator, RuleLine, Token, TokenType

T = TokenType
_KEYS: dict[TokenType, str] = {
    T.M_ACTION: "ACTION",
    T.M_DEVPATH: "DEVPATH",
    T.M_KERNEL: "KERNEL",
    T.M_DEVLINK: "SYMLINK",
    T.M_NAME: "NAME",
    T.M_ENV: "ENV",
    T.M_CONST: "CONST",
    T.M_TAG: "TAG",
    T.M_SUBSYSTEM: "SUBSYSTEM",
    T.M_DRIVER: "DRIVER",
    T.M_ATTR: "ATTR",
    T.M_SYSCTL: "SYSCTL",
    T.M_PARENTS_KERNEL: "KERNELS",
    T.M_PARENTS_SUBSYSTEM: "SUBSYSTEMS",
    T.M_PARENTS_DRIVER: "DRIVERS",
    T.M_PARENTS_ATTR: "ATTRS",
    T.M_PARENTS_TAG: "TAGS",
    T.M_TEST: "TEST",
    T.M_PROGRAM: "PROGRAM",
    T.M_IMPORT_FILE: "IMPORT{file}",
    T.M_IMPORT_PROGRAM: "IMPORT{program}",
    T.M_IMPORT_BUILTIN: "IMPORT{builtin}",
    T.M_IMPORT_DB: "IMPORT{db}",
    T.M_IMPORT_CMDLINE: "IMPORT{cmdline}",
    T.M_IMPORT_PARENT: "IMPORT{parent}",
    T.M_RESULT: "RESULT",
    T.A_OWNER: "OWNER",
    T.A_GROUP: "GROUP",
    T.A_MODE: "MODE",
    T.A_OWNER_ID: "OWNER",
    T.A_GROUP_ID: "GROUP",
    T.A_MODE_ID: "MODE",
    T.A_TAG: "TAG",
    T.A_SECLABEL: "SECLABEL",
    T.A_ENV: "ENV",
    T.A_NAME: "NAME",
    T.A_DEVLINK: "SYMLINK",
    T.A_ATTR: "ATTR",
    T.A_SYSCTL: "SYSCTL",
    T.A_RUN_BUILTIN: "RUN",
    T.A_RUN_PROGRAM: "RUN",
}
_OPTIONS: dict[TokenType, str] = {
    T.A_OPTIONS_STRING_ESCAPE_NONE: "string_escape=none",
    T.A_OPTIONS_STRING_ESCAPE_REPLACE: "string_escape=replace",
    T.A_OPTIONS_DB_PERSIST: "db_persist",
}
_LOG_LEVELS = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")


def quote(value: str) -> str:
    """A rules-file string for ``value``: plain when it can be, ``e"..."`` otherwise."""
    raw = value.encode("utf-8", "surrogateescape")
    if not any(b < 0x20 or b == 0x7F or b in b'"\\' for b in raw):
        return f'"{value}"'
    out: list[str] = []
    for b in raw:
        if b in b'"\\':
            out.append("\\" + chr(b))
        elif b < 0x20 or b >= 0x7F:
            out.append(f"\\x{b:02x}")
        else:
            out.append(chr(b))
    return 'e"' + "".join(out) + '"'


def _options_value(token: Token) -> str:
    if token.type in _OPTIONS:
        return _OPTIONS[token.type]
    if token.type is T.A_OPTIONS_INOTIFY_WATCH:
        return "watch" if token.number else "nowatch"
    if token.type is T.A_OPTIONS_DEVLINK_PRIORITY:
        return f"link_priority={token.number}"
    if token.type is T.A_OPTIONS_LOG_LEVEL:
        level = token.number if token.number is not None else -1
        return "log_level=" + ("reset" if level < 0 else _LOG_LEVELS[level])
    assert token.type is T.A_OPTIONS_STATIC_NODE
    return f"static_node={token.value}"


def token_source(token: Token) -> str:
    """The token as one ``KEY OP "value"`` pair that compiles back to it."""
    op = token.op
    if token.type.is_match and token.value == "?*":
        # the compiler turned KEY=="?*" into an inverted empty match: write what was written
        op = Operator.NOMATCH if op is Operator.MATCH else Operator.MATCH
    if token.type.name.startswith("A_OPTIONS"):
        return f"OPTIONS{op.value}{quote(_options_value(token))}"
    key = _KEYS[token.type]
    if token.type is T.M_TEST and token.number is not None:
        key += f"{{{token.number:04o}}}"
    elif token.attr is not None and "{" not in key:
        key += "{" + token.attr + "}"
    if token.type in (T.A_OWNER_ID, T.A_GROUP_ID, T.A_MODE_ID):
        # keep a name as written: the id it resolved to belongs to this machine only
        value = token.value if token.value is not None else str(token.number)
        if token.type is T.A_MODE_ID:
            value = f"{token.number or 0:04o}"
    else:
        value = token.value or ""
    return f"{key}{op.value}{quote(value)}"


def line_source(line: RuleLine) -> str:
    """The whole line in evaluation order, GOTO/LABEL last."""
    parts = [token_source(t) for t in line.tokens]
    if line.goto_label is not None:
        parts.append(f"GOTO={quote(line.goto_label)}")
    if line.label is not None:
        parts.append(f"LABEL={quote(line.label)}")
    return ", ".join(parts)
