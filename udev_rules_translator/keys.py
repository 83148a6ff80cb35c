"""One rule line's pairs -> tokens: which key takes which operator, as udevd 252 decides.

Each key handler returns False when udevd drops the whole line; warnings (operator coerced,
token ignored) keep it. Messages are udevd's own wording so users can search for them.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field

from udev_rules_translator import template
from udev_rules_translator.diagnostics import DiagnosticSink
from udev_rules_translator.glob import is_glob
from udev_rules_translator.lexer import Pair
from udev_rules_translator.model import (
    TEMPLATE_MATCHES,
    AttrForm,
    LineFlags,
    MatchKind,
    Operator,
    Pattern,
    ResolveNames,
    Token,
    TokenType,
    lookup_builtin,
    make_token,
    parse_subsys_ref,
)
from udev_rules_translator.names import NameResolver
from udev_rules_translator.numbers import parse_id, parse_int, parse_log_level, parse_mode

T = TokenType
C_SPACE = " \t\n\v\f\r"  # isspace() in the C locale
MATCH_OPS = (Operator.MATCH, Operator.NOMATCH)
UNSETTABLE_ENV = frozenset(
    [
        "ACTION",
        "DEVLINKS",
        "DEVNAME",
        "DEVPATH",
        "DEVTYPE",
        "DRIVER",
        "IFINDEX",
        "MAJOR",
        "MINOR",
        "SEQNUM",
        "SUBSYSTEM",
        "TAGS",
    ]
)
_DEVLINK_TYPES = frozenset({T.A_DEVLINK, T.A_OWNER, T.A_GROUP, T.A_MODE, T.A_OWNER_ID, T.A_GROUP_ID, T.A_MODE_ID})
_UPDATE_MATCHES = frozenset(
    {
        T.M_PROGRAM,
        T.M_IMPORT_FILE,
        T.M_IMPORT_PROGRAM,
        T.M_IMPORT_BUILTIN,
        T.M_IMPORT_DB,
        T.M_IMPORT_CMDLINE,
        T.M_IMPORT_PARENT,
    }
)

def _substitution_form(text: str) -> AttrForm:
    if text.startswith("["):
        return AttrForm.SUBSYS
    if "%" in text or "$" in text:
        return AttrForm.FORMAT
    return AttrForm.PLAIN


def make_pattern(token_type: TokenType, value: str) -> Pattern:
    """The pattern of a match value (the "?*" inversion is the caller's: it flips the operator)."""
    if token_type is T.M_SUBSYSTEM and value in ("subsystem", "bus", "class"):
        return Pattern(MatchKind.SUBSYSTEM)
    if not value or value == "?*":
        return Pattern(MatchKind.EMPTY)
    kind = MatchKind.GLOB if is_glob(value) else MatchKind.PLAIN
    if "|" not in value:  # the value itself, not a copy of it (memory: a line per device model)
        return Pattern(kind, (value,))
    pieces = value.split("|")
    return Pattern(kind, tuple(p for p in pieces if p), "" in pieces)


@dataclass
class LineBuilder:
    """Collects the tokens of one line (udevd's UdevRuleLine while it is parsed)."""

    sink: DiagnosticSink
    resolve_names: ResolveNames
    resolver: NameResolver
    tokens: list[Token] = field(default_factory=list)
    flags: LineFlags = LineFlags.NONE
    label: str | None = None
    goto_label: str | None = None

    # --- helpers -------------------------------------------------------------------------

    def add(self, token_type: TokenType, op: Operator, value: str | None = None, **kw: object) -> bool:
        if token_type.is_match:
            assert value is not None
            if value == "?*":
                op = Operator.NOMATCH if op is Operator.MATCH else Operator.MATCH
            if token_type in TEMPLATE_MATCHES:
                kw["template"] = template.parse(value)
            elif token_type not in (T.M_IMPORT_DB, T.M_IMPORT_CMDLINE):
                kw["pattern"] = make_pattern(token_type, value)
        if isinstance(kw.get("attr"), str):  # ENV{ID_SERIAL} and the like: one string for all lines
            kw["attr"] = sys.intern(str(kw["attr"]))
        token = make_token(token_type, op, value, **kw)  # type: ignore[arg-type]
        self.tokens.append(token)
        if token_type is T.A_NAME:
            self.flags |= LineFlags.HAS_NAME
        elif token_type in _DEVLINK_TYPES:
            self.flags |= LineFlags.HAS_DEVLINK
        elif token_type is T.A_OPTIONS_STATIC_NODE:
            self.flags |= LineFlags.HAS_STATIC_NODE
        elif not token_type.is_match or token_type in _UPDATE_MATCHES:
            self.flags |= LineFlags.UPDATE_SOMETHING
        return True

    def assign(self, token_type: TokenType, op: Operator, value: str, **kw: object) -> bool:
        return self.add(token_type, op, value, template=template.parse(value), **kw)

    def invalid_attr(self, key: str) -> bool:
        self.sink.error(f"Invalid attribute for {key}.")
        return False

    def invalid_op(self, key: str) -> bool:
        self.sink.error(f"Invalid operator for {key}.")
        return False

    def check_value(self, key: str, value: str, nonempty: bool = False) -> None:
        if nonempty and not value:
            self.sink.error(f'Invalid value "{value}" for {key} (char 0: empty value), ignoring.')
            return
        problem = template.check(value)
        if problem is not None:
            self.sink.error(f'Invalid value "{value}" for {key} (char {problem.offset + 1}: {problem.hint}), ignoring.')

    def check_attr(self, key: str, attr: str | None) -> bool:
        if not attr:
            return self.invalid_attr(key)
        problem = template.check(attr)
        if problem is not None:
            self.sink.error(
                f'Invalid attribute "{attr}" for {key} (char {problem.offset + 1}: {problem.hint}), ignoring.'
            )
        return True

    def coerce(self, key: str, accepted: str) -> Operator:
        self.sink.warning(f"{key} key takes {accepted} operator, assuming '='.")
        return Operator.ASSIGN

    # --- keys ----------------------------------------------------------------------------

    def simple_match(self, token_type: TokenType, p: Pair) -> bool:
        """ACTION, DEVPATH, KERNEL, KERNELS, ...: no attribute, only == and !=."""
        if p.attr is not None:
            return self.invalid_attr(p.key)
        if p.op not in MATCH_OPS:
            return self.invalid_op(p.key)
        return self.add(token_type, p.op, p.value)

    def key_symlink(self, p: Pair) -> bool:
        if p.attr is not None:
            return self.invalid_attr(p.key)
        if p.op is Operator.REMOVE:
            return self.invalid_op(p.key)
        if p.op in MATCH_OPS:
            return self.add(T.M_DEVLINK, p.op, p.value)
        self.check_value(p.key, p.value)
        return self.assign(T.A_DEVLINK, p.op, p.value)

    def key_name(self, p: Pair) -> bool:
        if p.attr is not None:
            return self.invalid_attr(p.key)
        op = p.op
        if op is Operator.REMOVE:
            return self.invalid_op(p.key)
        if op is Operator.ADD:
            op = self.coerce(p.key, "'==', '!=', '=', or ':='")
        if op in MATCH_OPS:
            return self.add(T.M_NAME, op, p.value)
        if p.value == "%k":
            self.sink.error('Ignoring NAME="%k", as it will take no effect.')
            return False
        if not p.value:
            self.sink.error('Ignoring NAME="", as udev will not delete any network interfaces.')
            return False
        self.check_value(p.key, p.value)
        return self.assign(T.A_NAME, op, p.value)

    def key_env(self, p: Pair) -> bool:
        if not p.attr:
            return self.invalid_attr(p.key)
        op = p.op
        if op is Operator.REMOVE:
            return self.invalid_op(p.key)
        if op is Operator.ASSIGN_FINAL:
            op = self.coerce(p.key, "'==', '!=', '=', or '+='")
        if op in MATCH_OPS:
            return self.add(T.M_ENV, op, p.value, attr=p.attr)
        if p.attr in UNSETTABLE_ENV:
            self.sink.error(f"Invalid ENV attribute. '{p.attr}' cannot be set.")
            return False
        self.check_value(p.key, p.value)
        return self.assign(T.A_ENV, op, p.value, attr=p.attr)

    def key_const(self, p: Pair) -> bool:
        if p.attr not in ("arch", "virt"):
            return self.invalid_attr(p.key)
        if p.op not in MATCH_OPS:
            return self.invalid_op(p.key)
        return self.add(T.M_CONST, p.op, p.value, attr=p.attr)

    def key_tag(self, p: Pair) -> bool:
        if p.attr is not None:
            return self.invalid_attr(p.key)
        op = p.op
        if op is Operator.ASSIGN_FINAL:
            op = self.coerce(p.key, "'==', '!=', '=', or '+='")
        if op in MATCH_OPS:
            return self.add(T.M_TAG, op, p.value)
        self.check_value(p.key, p.value, nonempty=True)
        return self.assign(T.A_TAG, op, p.value)

    def key_subsystem(self, p: Pair) -> bool:
        if p.attr is not None:
            return self.invalid_attr(p.key)
        if p.op not in MATCH_OPS:
            return self.invalid_op(p.key)
        if p.value in ("bus", "class"):
            self.sink.warning(f'"{p.value}" must be specified as "subsystem".')
        return self.add(T.M_SUBSYSTEM, p.op, p.value)

    def _attr_match(self, token_type: TokenType, p: Pair) -> bool:
        assert p.attr is not None
        form = _substitution_form(p.attr)
        return self.add(
            token_type,
            p.op,
            p.value,
            attr=p.attr,
            attr_form=form,
            attr_template=template.parse(p.attr) if form is AttrForm.FORMAT else None,
            attr_ref=parse_subsys_ref(p.attr) if form is AttrForm.SUBSYS else None,
            remove_trailing_whitespace=bool(p.value) and p.value[-1] not in C_SPACE,
        )

    def _attr_key_op(self, p: Pair) -> Operator | None:
        """ATTR{}/SYSCTL{}: the operator to use, None when the line is refused."""
        if not self.check_attr(p.key, p.attr):
            return None
        if p.op is Operator.REMOVE:
            self.invalid_op(p.key)
            return None
        if p.op in (Operator.ADD, Operator.ASSIGN_FINAL):
            return self.coerce(p.key, "'==', '!=', or '='")
        return p.op

    def key_attr(self, p: Pair) -> bool:
        op = self._attr_key_op(p)
        if op is None:
            return False
        assert p.attr is not None
        if op in MATCH_OPS:
            return self._attr_match(T.M_ATTR, Pair(p.key, p.attr, op, p.value))
        self.check_value(p.key, p.value)
        return self.assign(T.A_ATTR, op, p.value, attr=p.attr, attr_ref=parse_subsys_ref(p.attr))

    def key_sysctl(self, p: Pair) -> bool:
        op = self._attr_key_op(p)
        if op is None:
            return False
        assert p.attr is not None
        attr_template = template.parse(p.attr)
        if op in MATCH_OPS:
            return self.add(T.M_SYSCTL, op, p.value, attr=p.attr, attr_template=attr_template)
        self.check_value(p.key, p.value)
        return self.assign(T.A_SYSCTL, op, p.value, attr=p.attr, attr_template=attr_template)

    def key_attrs(self, p: Pair) -> bool:
        if not self.check_attr(p.key, p.attr):
            return False
        assert p.attr is not None
        if p.op not in MATCH_OPS:
            return self.invalid_op(p.key)
        if p.attr.startswith("device/"):
            self.sink.warning("'device' link may not be available in future kernels.")
        if "../" in p.attr:
            self.sink.warning("Direct reference to parent sysfs directory, may break in future kernels.")
        return self._attr_match(T.M_PARENTS_ATTR, p)

    def key_test(self, p: Pair) -> bool:
        mode: int | None = None
        if p.attr:
            mode, err = parse_mode(p.attr)
            if mode is None:
                self.sink.error(f"Failed to parse mode '{p.attr}': {err}")
                return False
        self.check_value(p.key, p.value, nonempty=True)
        if p.op not in MATCH_OPS:
            return self.invalid_op(p.key)
        return self.add(T.M_TEST, p.op, p.value, number=mode)

    def key_program(self, p: Pair) -> bool:
        if p.attr is not None:
            return self.invalid_attr(p.key)
        self.check_value(p.key, p.value, nonempty=True)
        if p.op is Operator.REMOVE:
            return self.invalid_op(p.key)
        return self.add(T.M_PROGRAM, p.op if p.op in MATCH_OPS else Operator.MATCH, p.value)

    def key_import(self, p: Pair) -> bool:
        if not p.attr:
            return self.invalid_attr(p.key)
        self.check_value(p.key, p.value, nonempty=True)
        if p.op is Operator.REMOVE:
            return self.invalid_op(p.key)
        op = p.op if p.op in MATCH_OPS else Operator.MATCH
        if p.attr == "program":
            builtin = lookup_builtin(p.value)
            if builtin is not None:
                return self.add(T.M_IMPORT_BUILTIN, op, p.value, builtin=builtin)
            return self.add(T.M_IMPORT_PROGRAM, op, p.value)
        if p.attr == "builtin":
            builtin = lookup_builtin(p.value)
            if builtin is None:
                self.sink.error(f"Unknown builtin command: {p.value}")
                return False
            return self.add(T.M_IMPORT_BUILTIN, op, p.value, builtin=builtin)
        simple = {
            "file": T.M_IMPORT_FILE,
            "db": T.M_IMPORT_DB,
            "cmdline": T.M_IMPORT_CMDLINE,
            "parent": T.M_IMPORT_PARENT,
        }.get(p.attr)
        if simple is None:
            return self.invalid_attr(p.key)
        return self.add(simple, op, p.value)

    def key_options(self, p: Pair) -> bool:
        if p.attr is not None:
            return self.invalid_attr(p.key)
        if p.op in MATCH_OPS or p.op is Operator.REMOVE:
            return self.invalid_op(p.key)
        op = Operator.ASSIGN if p.op is Operator.ADD else p.op
        value = p.value
        flags = {
            "string_escape=none": (T.A_OPTIONS_STRING_ESCAPE_NONE, None),
            "string_escape=replace": (T.A_OPTIONS_STRING_ESCAPE_REPLACE, None),
            "db_persist": (T.A_OPTIONS_DB_PERSIST, None),
            "watch": (T.A_OPTIONS_INOTIFY_WATCH, 1),
            "nowatch": (T.A_OPTIONS_INOTIFY_WATCH, 0),
        }
        if value in flags:
            token_type, number = flags[value]
            return self.add(token_type, op, number=number)
        if value.startswith("static_node="):
            return self.add(T.A_OPTIONS_STATIC_NODE, op, value.removeprefix("static_node="))
        if value.startswith("link_priority="):
            text = value.removeprefix("link_priority=")
            prio, err = parse_int(text)
            if prio is None:
                self.sink.error(f"Failed to parse link priority '{text}': {err}")
                return False
            return self.add(T.A_OPTIONS_DEVLINK_PRIORITY, op, number=prio)
        if value.startswith("log_level="):
            text = value.removeprefix("log_level=")
            level = -1 if text == "reset" else parse_log_level(text)
            if level is None:
                self.sink.error(f"Failed to parse log level '{text}': Invalid argument")
                return False
            return self.add(T.A_OPTIONS_LOG_LEVEL, op, number=level)
        self.sink.warning(f"Invalid value for OPTIONS key, ignoring: '{value}'")
        return True

    def _owner(self, p: Pair, what: str, id_type: TokenType, name_type: TokenType) -> bool:
        if p.attr is not None:
            return self.invalid_attr(p.key)
        op = p.op
        if op in MATCH_OPS or op is Operator.REMOVE:
            return self.invalid_op(p.key)
        if op is Operator.ADD:
            op = self.coerce(p.key, "'=' or ':='")
        number = parse_id(p.value)
        if number is not None:
            return self.add(id_type, op, number=number)
        lookup = self.resolver.user if what == "user" else self.resolver.group
        if self.resolve_names is ResolveNames.EARLY and _substitution_form(p.value) is AttrForm.PLAIN:
            number = lookup(p.value)
            if number is None:
                self.sink.error(f"Unknown {what} '{p.value}', ignoring")
            return self.add(id_type, op, p.value, number=number)
        if self.resolve_names is not ResolveNames.NEVER:
            self.check_value(p.key, p.value, nonempty=True)
            return self.assign(name_type, op, p.value)
        if what == "user":
            self.sink.debug(f"User name resolution is disabled, ignoring {p.key}={p.value}")
        else:
            self.sink.debug(f'Resolving group name is disabled, ignoring GROUP="{p.value}"')
        return True

    def key_owner(self, p: Pair) -> bool:
        return self._owner(p, "user", T.A_OWNER_ID, T.A_OWNER)

    def key_group(self, p: Pair) -> bool:
        return self._owner(p, "group", T.A_GROUP_ID, T.A_GROUP)

    def key_mode(self, p: Pair) -> bool:
        if p.attr is not None:
            return self.invalid_attr(p.key)
        op = p.op
        if op in MATCH_OPS or op is Operator.REMOVE:
            return self.invalid_op(p.key)
        if op is Operator.ADD:
            op = self.coerce(p.key, "'=' or ':='")
        mode, _ = parse_mode(p.value)
        if mode is not None:
            return self.add(T.A_MODE_ID, op, number=mode)
        self.check_value(p.key, p.value, nonempty=True)
        return self.assign(T.A_MODE, op, p.value)

    def key_seclabel(self, p: Pair) -> bool:
        if not p.attr:
            return self.invalid_attr(p.key)
        self.check_value(p.key, p.value, nonempty=True)
        op = p.op
        if op in MATCH_OPS or op is Operator.REMOVE:
            return self.invalid_op(p.key)
        if op is Operator.ASSIGN_FINAL:
            op = self.coerce(p.key, "'=' or '+='")
        return self.assign(T.A_SECLABEL, op, p.value, attr=p.attr)

    def key_run(self, p: Pair) -> bool:
        if p.op in MATCH_OPS or p.op is Operator.REMOVE:
            return self.invalid_op(p.key)
        self.check_value(p.key, p.value, nonempty=True)
        if p.attr is None or p.attr == "program":
            return self.assign(T.A_RUN_PROGRAM, p.op, p.value, attr=p.attr)
        if p.attr != "builtin":
            return self.invalid_attr(p.key)
        builtin = lookup_builtin(p.value)
        if builtin is None:
            self.sink.error(f"Unknown builtin command '{p.value}', ignoring")
            return False
        return self.assign(T.A_RUN_BUILTIN, p.op, p.value, attr=p.attr, builtin=builtin)

    def key_goto(self, p: Pair) -> bool:
        if p.attr is not None:
            return self.invalid_attr(p.key)
        if p.op is not Operator.ASSIGN:
            return self.invalid_op(p.key)
        if LineFlags.HAS_GOTO in self.flags:
            self.sink.warning(f'Contains multiple GOTO keys, ignoring GOTO="{p.value}".')
            return True
        self.goto_label = p.value
        self.flags |= LineFlags.HAS_GOTO
        return True

    def key_label(self, p: Pair) -> bool:
        if p.attr is not None:
            return self.invalid_attr(p.key)
        if p.op is not Operator.ASSIGN:
            return self.invalid_op(p.key)
        self.label = p.value
        self.flags |= LineFlags.HAS_LABEL
        return True

    def handle(self, p: Pair) -> bool:
        """Compile one pair; False when the whole line is to be dropped."""
        simple = _SIMPLE_MATCHES.get(p.key)
        if simple is not None:
            return self.simple_match(simple, p)
        method = _HANDLERS.get(p.key)
        if method is None:
            self.sink.error(f"Invalid key '{p.key}'")
            return False
        return method(self, p)


_SIMPLE_MATCHES = {
    "ACTION": T.M_ACTION,
    "DEVPATH": T.M_DEVPATH,
    "KERNEL": T.M_KERNEL,
    "DRIVER": T.M_DRIVER,
    "KERNELS": T.M_PARENTS_KERNEL,
    "SUBSYSTEMS": T.M_PARENTS_SUBSYSTEM,
    "DRIVERS": T.M_PARENTS_DRIVER,
    "TAGS": T.M_PARENTS_TAG,
    "RESULT": T.M_RESULT,
}

_HANDLERS: dict[str, Callable[[LineBuilder, Pair], bool]] = {
    "SYMLINK": LineBuilder.key_symlink,
    "NAME": LineBuilder.key_name,
    "ENV": LineBuilder.key_env,
    "CONST": LineBuilder.key_const,
    "TAG": LineBuilder.key_tag,
    "SUBSYSTEM": LineBuilder.key_subsystem,
    "ATTR": LineBuilder.key_attr,
    "SYSCTL": LineBuilder.key_sysctl,
    "ATTRS": LineBuilder.key_attrs,
    "TEST": LineBuilder.key_test,
    "PROGRAM": LineBuilder.key_program,
    "IMPORT": LineBuilder.key_import,
    "OPTIONS": LineBuilder.key_options,
    "OWNER": LineBuilder.key_owner,
    "GROUP": LineBuilder.key_group,
    "MODE": LineBuilder.key_mode,
    "SECLABEL": LineBuilder.key_seclabel,
    "RUN": LineBuilder.key_run,
    "GOTO": LineBuilder.key_goto,
    "LABEL": LineBuilder.key_label,
}
