"""``$name{arg}`` / ``%c{arg}`` substitutions: parsed once, at compile time.

Two readings of the same text, as in udevd: ``parse`` is what an event sees (an unknown
``$foo`` stays literal text), ``check`` is the load-time lint (an unknown one is reported).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from udev_rules_translator.model import Literal, Substitution, SubstKind, Template

PATH_SIZE = 1024  # udevd's UDEV_PATH_SIZE bounds the {...} argument

# udevd's table order matters: "$sysfs" is tried before "$sys", "$devnode" before "$devpath"
_NAMES: tuple[tuple[str, str, SubstKind], ...] = (
    ("devnode", "N", SubstKind.DEVNODE),
    ("tempnode", "N", SubstKind.DEVNODE),
    ("attr", "s", SubstKind.ATTR),
    ("sysfs", "s", SubstKind.ATTR),
    ("env", "E", SubstKind.ENV),
    ("kernel", "k", SubstKind.KERNEL),
    ("number", "n", SubstKind.KERNEL_NUMBER),
    ("driver", "d", SubstKind.DRIVER),
    ("devpath", "p", SubstKind.DEVPATH),
    ("id", "b", SubstKind.ID),
    ("major", "M", SubstKind.MAJOR),
    ("minor", "m", SubstKind.MINOR),
    ("result", "c", SubstKind.RESULT),
    ("parent", "P", SubstKind.PARENT),
    ("name", "D", SubstKind.NAME),
    ("links", "L", SubstKind.LINKS),
    ("root", "r", SubstKind.ROOT),
    ("sys", "S", SubstKind.SYS),
)
_BY_CHAR = {c: kind for _, c, kind in reversed(_NAMES)}
_RESULT_ARG = re.compile(r"[ \t\n\r]*(\d+)(\+?)")


@dataclass(frozen=True, slots=True)
class FormatError:
    offset: int  # 0-based offset of the offending '$'/'%' in the value
    hint: str


class _Unknown(Exception):
    """A '$'/'%' not followed by a known name."""


class _Bad(Exception):
    """A known name with a malformed {...} argument."""


def _kind_at(text: str, i: int) -> tuple[SubstKind, int] | None:
    """The substitution starting at ``text[i]`` ('$' or '%') and where its name ends; None for '$$'/'%%'."""
    sigil = text[i]
    nxt = text[i + 1 : i + 2]
    if nxt == sigil:
        return None
    if sigil == "$":
        for name, _, kind in _NAMES:
            if text.startswith(name, i + 1):
                return kind, i + 1 + len(name)
        raise _Unknown
    kind_or_none = _BY_CHAR.get(nxt)
    if kind_or_none is None:
        raise _Unknown
    return kind_or_none, i + 2


def _argument(text: str, j: int) -> tuple[str | None, int]:
    if not text.startswith("{", j):
        return None, j
    end = text.find("}", j + 1)
    if end < 0 or end == j + 1 or end - j - 1 >= PATH_SIZE:
        raise _Bad
    return text[j + 1 : end], end + 1


def _result_index(arg: str) -> tuple[int, bool] | None:
    """safe_atou() of "N" or "N+"; None when not a number."""
    m = _RESULT_ARG.fullmatch(arg)
    if m is None or int(m.group(1)) > 0xFFFFFFFF:
        return None
    return int(m.group(1)), bool(m.group(2))


def _substitution(kind: SubstKind, arg: str | None) -> Substitution | None:
    """The substitution, or None when the event-time formatter would fail on it."""
    if kind in (SubstKind.ATTR, SubstKind.ENV) and not arg:
        return None
    if kind is SubstKind.RESULT and arg:
        index = _result_index(arg)
        if index is None:
            return None
        return Substitution(kind, arg, index[0], index[1])
    return Substitution(kind, arg)


def parse(text: str) -> Template:
    """The template an event formats (udev_event_apply_format's reading)."""
    if "$" not in text and "%" not in text:
        return Template(text, (Literal(text),) if text else ())
    parts: list[Literal | Substitution] = []
    literal: list[str] = []
    error: str | None = None
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c not in "$%":
            literal.append(c)
            i += 1
            continue
        try:
            found = _kind_at(text, i)
        except _Unknown:
            literal.append(c)
            i += 1
            continue
        if found is None:
            literal.append(c)
            i += 2
            continue
        kind, j = found
        try:
            arg, i = _argument(text, j)
        except _Bad:
            error = f"Invalid format string, ignoring: {text}"
            break
        subst = _substitution(kind, arg)
        if subst is None:
            error = f"Failed to substitute variable '${kind.value}', ignoring: {text}"
            break
        if literal:
            parts.append(Literal("".join(literal)))
            literal = []
        parts.append(subst)
    if literal:
        parts.append(Literal("".join(literal)))
    return Template(text, tuple(parts), error)


def check(text: str) -> FormatError | None:
    """udev_check_format(): the first problem a rule author should hear about, if any."""
    if "$" not in text and "%" not in text:
        return None
    i = 0
    n = len(text)
    while i < n:
        if text[i] not in "$%":
            i += 1
            continue
        try:
            found = _kind_at(text, i)
        except _Unknown:
            return FormatError(i, "invalid substitution type")
        if found is None:
            i += 2
            continue
        kind, j = found
        try:
            arg, i = _argument(text, j)
        except _Bad:
            return FormatError(i, "invalid substitution type")
        if kind in (SubstKind.ATTR, SubstKind.ENV) and not arg:
            return FormatError(i, "attribute value missing")
        if kind is SubstKind.RESULT and arg and _result_index(arg) is None:
            return FormatError(i, "attribute value not a valid number")
    return None
