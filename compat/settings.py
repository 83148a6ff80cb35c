"""The building blocks of directive handlers: the parse context, errors, and handler factories.

A handler applies one assignment to a UnitConfig. It raises `Invalid` for a bad value (systemd
logs `file:line: <reason>, ignoring: <value>` and ignores the setting) and `Refuse` for the few
errors after which systemd refuses the unit (LoadState=bad-setting).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from compat import unitname
from compat.execline import parse_exec
from compat.model import Diagnostic, Severity, UnitConfig
from compat.specifiers import HostFacts, SpecifierError, expand
from compat.syntax import Assignment
from compat.words import Extract, split_words


class Invalid(ValueError):
    """A bad value: warned about and ignored.

    The driver logs `<message>, ignoring: <value>`, systemd's most common shape; with
    `complete=True` the message is logged as it is (systemd words some warnings differently).
    """

    def __init__(self, message: str, *, complete: bool = False) -> None:
        super().__init__(message)
        self.complete = complete

    def render(self, value: str) -> str:
        return str(self) if self.complete else f"{self}, ignoring: {value}"


class Refuse(Exception):
    """A bad value that makes systemd refuse the whole unit.

    Most such errors give LoadState=bad-setting; a few parsers fail with a plain errno instead,
    which systemd turns into LoadState=error with that errno text as the reason (`errno_text`).
    """

    def __init__(self, message: str, *, errno_text: str | None = None) -> None:
        super().__init__(message)
        self.errno_text = errno_text


@dataclass
class ParseContext:
    name: str
    facts: HostFacts
    fragment_path: str | None = None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    current: Assignment | None = None

    def warn(self, message: str, severity: Severity = Severity.WARNING) -> None:
        a = self.current
        path, line = (a.path, a.line) if a else (self.fragment_path or self.name, 0)
        self.diagnostics.append(Diagnostic(path, line, message, severity))

    def printf(self, text: str, quote: str = "'", *, names_only: bool = False) -> str:
        """Specifier expansion (unit_full_printf, or unit_name_printf with `names_only`).

        `quote` is how systemd quotes the value in this directive's warning.
        """
        try:
            return expand(text, self.name, self.facts, self.fragment_path, names_only=names_only)
        except SpecifierError as e:
            raise Invalid(
                f"Failed to resolve unit specifiers in {quote}{text}{quote}, ignoring: {e.reason}", complete=True
            ) from None

    def expand_or_reason(self, text: str) -> str:
        """Specifier expansion raising ValueError(errno text), for parsers that word their own warning."""
        try:
            return expand(text, self.name, self.facts, self.fragment_path)
        except SpecifierError as e:
            raise ValueError(e.reason) from None

    def name_printf(self, text: str, quote: str = "'") -> str:
        return self.printf(text, quote, names_only=True)

    def path_printf(self, text: str, quote: str = "'", *, fatal: bool = False) -> str:
        """An absolute path: specifiers expanded, `.` and `//` simplified (path_simplify_and_warn).

        With `fatal`, a bad path refuses the unit, as systemd does for RootDirectory=.
        """
        path = self.printf(text, quote)
        return checked_path(path, self.current.key if self.current else "Path", fatal=fatal)


def checked_path(path: str, key: str, *, fatal: bool = False) -> str:
    problem = None
    if not path.startswith("/"):
        problem = "is not absolute"
    elif any(c < " " for c in path) or "\x7f" in path or ".." in path.split("/"):
        problem = "is not normalized"
    if problem is None:
        return normalize_path(path)
    if fatal:
        raise Refuse(f"{key}= path {problem}: {path}")
    raise Invalid(f"{key}= path {problem}, ignoring: {path}", complete=True)


def normalize_path(path: str) -> str:
    if not path.startswith("/"):
        return path
    return "/" + "/".join(p for p in path.split("/") if p not in ("", "."))


Handler = Callable[[UnitConfig, str, ParseContext], None]
Getter = Callable[[UnitConfig], Any]


def words(value: str, flags: Extract = Extract.UNQUOTE) -> list[str]:
    try:
        return split_words(value, flags)
    except ValueError as e:
        raise Invalid(f"Invalid syntax ({e})") from None


def setter(
    get: Getter, attr: str, parse: Callable[[str, ParseContext], Any], *, reset: bool = False
) -> Handler:
    """A scalar setting. With `reset`, an empty value restores the default (systemd does that for
    strings, Nice=, signals, ...); otherwise the empty value goes to the parser, which rejects
    it the way systemd rejects `Restart=` or `TimeoutSec=` with nothing after the `=`."""

    def handle(cfg: UnitConfig, value: str, ctx: ParseContext) -> None:
        target = get(cfg)
        if reset and value == "":
            default = type(target)()
            setattr(target, attr, getattr(default, attr))
            return
        setattr(target, attr, parse(value, ctx))

    return handle


def plain(fn: Callable[[str], Any], what: str | None = None) -> Callable[[str, ParseContext], Any]:
    """Adapt a pure value parser; its ValueError becomes Invalid with systemd-like wording."""

    def parse(value: str, ctx: ParseContext) -> Any:
        try:
            return fn(value)
        except ValueError as e:
            raise Invalid(what or str(e)) from None

    return parse


def string(value: str, ctx: ParseContext) -> str:
    return ctx.printf(value)


def path(value: str, ctx: ParseContext) -> str:
    return ctx.path_printf(value)


def path_setting(get: Getter, attr: str, *, fatal: bool = False) -> Handler:
    """A single absolute path (config_parse_unit_path_printf): empty, also after specifier
    expansion, resets it; with `fatal`, bad values refuse the unit (RootDirectory=)."""

    def handle(cfg: UnitConfig, value: str, ctx: ParseContext) -> None:
        target = get(cfg)
        try:
            expanded = ctx.expand_or_reason(value)
        except ValueError as e:
            if fatal:
                raise Refuse(f"Failed to resolve unit specifiers in '{value}': {e}") from None
            raise Invalid(f"Failed to resolve unit specifiers in '{value}', ignoring: {e}", complete=True) from None
        if not expanded:
            setattr(target, attr, getattr(type(target)(), attr))
            return
        key = ctx.current.key if ctx.current else attr
        setattr(target, attr, checked_path(expanded, key, fatal=fatal))

    return handle


def enum_of(cls: type[enum.Enum], what: str | None = None) -> Callable[[str, ParseContext], Any]:
    """Values of an enum; the error names `what`, or the directive (`Failed to parse Restart=`)."""
    by_value = {m.value: m for m in cls}

    def parse(value: str, ctx: ParseContext) -> Any:
        if value not in by_value:
            if what is None:
                key = ctx.current.key if ctx.current else cls.__name__
                raise Invalid(f"Failed to parse {key}=")
            raise Invalid(f"Failed to parse {what}")
        return by_value[value]

    return parse


def string_list(get: Getter, attr: str, item: Callable[[str, ParseContext], str] | None = None) -> Handler:
    """Whitespace-separated words appended to a list; an empty value resets the list."""

    def handle(cfg: UnitConfig, value: str, ctx: ParseContext) -> None:
        target: list[str] = getattr(get(cfg), attr)
        if value == "":
            target.clear()
            return
        for word in words(value):
            try:
                target.append(item(word, ctx) if item else ctx.printf(word))
            except Invalid as e:
                ctx.warn(e.render(word))

    return handle


def unit_names(get: Getter, attr: str) -> Handler:
    """Dependency lists: unit names after specifier expansion, templates resolved against this
    unit's instance or prefix, duplicates dropped, order kept."""

    def handle(cfg: UnitConfig, value: str, ctx: ParseContext) -> None:
        target: list[str] = getattr(get(cfg), attr)
        for word in words(value, Extract.RETAIN_ESCAPE):
            try:
                name = ctx.name_printf(word)
            except Invalid as e:
                ctx.warn(e.render(word))
                continue
            resolved = unitname.resolve_template(name, ctx.name) if unitname.is_valid(name) else None
            if resolved is None:
                ctx.warn(f"Failed to add dependency on {name}, ignoring: Invalid argument")
                continue
            if resolved not in target:
                target.append(resolved)

    return handle


def trigger_unit_setting(get: Getter) -> Handler:
    """Unit= of the types that trigger another unit (config_parse_trigger_unit): one unit, of a
    known type, not the unit itself; stored in the section's `unit` field. An invalid name is "not
    a valid type", as unit_name_to_type() answers for it (checked with systemd-analyze verify)."""

    def handle(cfg: UnitConfig, value: str, ctx: ParseContext) -> None:
        section = get(cfg)
        if section.unit is not None:
            raise Invalid(f"Multiple units to trigger specified, ignoring: {value}", complete=True)
        name = ctx.name_printf(value, quote="")
        if not unitname.is_valid(name) or unitname.kind_of(name) is None:
            raise Invalid(f"Unit type not valid, ignoring: {value}", complete=True)
        if name == cfg.name:
            raise Invalid(f"Units cannot trigger themselves, ignoring: {value}", complete=True)
        section.unit = name

    return handle


def string_printf(value: str, ctx: ParseContext) -> str | None:
    """config_parse_unit_string_printf: specifiers expanded; empty unsets."""
    return ctx.printf(value) or None


def exec_list(get: Getter, attr: str) -> Handler:
    """An Exec*= list of any type's section: commands appended, an empty value resets the list, a
    fatal problem of the command line refuses the unit (config_parse_exec)."""
    def handle(cfg: UnitConfig, value: str, ctx: ParseContext) -> None:
        target = getattr(get(cfg), attr)
        if value == "":
            target.clear()
            return
        a = ctx.current
        parsed = parse_exec(value, ctx.expand_or_reason, ctx.expand_or_reason, a.path if a else "", a.line if a else 0)
        target.extend(parsed.commands)
        for warning in parsed.warnings:
            ctx.warn(warning)
        if parsed.problem is None:
            return
        if parsed.problem.fatal:
            raise Refuse(parsed.problem.message)
        ctx.warn(parsed.problem.message)

    return handle
