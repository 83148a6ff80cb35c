"""The compiled program for people (text) and for tools (JSON)."""

from __future__ import annotations

import dataclasses
import enum
import json
from typing import Any

from udev_rules_translator.model import Literal, Pattern, RuleLine, RuleSet, Substitution, Template, Token
from udev_rules_translator.render import quote


def _pattern(p: Pattern) -> str:
    alts = "|".join(p.alternatives)
    empty = " or empty" if p.match_empty else ""
    if p.kind.value in ("empty", "subsystem"):
        return p.kind.value
    return f"{p.kind.value} {quote(alts)}{empty}"


def _template(t: Template) -> str:
    if t.is_plain:
        return quote(t.raw)
    parts: list[str] = []
    for part in t.parts:
        if isinstance(part, Literal):
            parts.append(quote(part.text))
        else:
            parts.append(_substitution(part))
    if t.error:
        parts.append(f"<stops: {t.error}>")
    return " + ".join(parts) if parts else '""'


def _substitution(s: Substitution) -> str:
    arg = f"{{{s.arg}}}" if s.arg is not None else ""
    return f"${s.kind.value}{arg}"


def token_text(token: Token) -> str:
    head = f"{token.type.name} {token.op.value}"
    details: list[str] = []
    if token.attr is not None:
        attr = (token.attr_template and _template(token.attr_template)) or quote(token.attr)
        details.append(f"attr={attr}")
    if token.pattern is not None:
        details.append(_pattern(token.pattern))
        if token.remove_trailing_whitespace:
            details.append("(trailing whitespace stripped)")
    elif token.template is not None:
        details.append(_template(token.template))
    elif token.value is not None:
        details.append(quote(token.value))
    if token.number is not None:
        details.append(f"number={token.number}" if "MODE" not in token.type.name else f"mode={token.number:04o}")
    if token.builtin is not None:
        details.append(f"builtin={token.builtin.value}{' (once)' if token.builtin.run_once else ''}")
    return " ".join([head, *details])


def render_text(rules: RuleSet) -> str:
    out: list[str] = []
    current = None
    for index, line in enumerate(rules.lines):
        if line.filename != current:
            current = line.filename
            out.append(f"# {current}")
        flags = "|".join(f.name or "" for f in type(line.flags) if f in line.flags and f.name)
        head = f"[{index}] line {line.line_number} {flags}"
        if line.label is not None:
            head += f" LABEL={quote(line.label)}"
        if line.goto is not None:
            head += f" GOTO={quote(line.goto_label or '')} -> [{line.goto}]"
        out.append(head)
        out.extend("    " + token_text(t) for t in line.tokens)
    out.append(f"# {len(rules.lines)} lines, {rules.token_count} tokens, {len(rules.sources)} files")
    return "\n".join(out) + "\n"


# what a token and a line say, not how they are stored (Token.body and .extra, RuleLine.jump)
_FIELDS: dict[type, tuple[str, ...]] = {
    Token: ("type", "op", "value", "attr", "pattern", "template", "attr_form", "attr_template", "attr_ref", "number",
            "builtin", "remove_trailing_whitespace"),
    RuleLine: ("filename", "line_number", "flags", "tokens", "label", "goto_label", "goto"),
}


def _plain(obj: Any) -> Any:
    if isinstance(obj, enum.Flag) and not isinstance(obj, enum.IntEnum):
        return [f.name for f in type(obj) if f in obj and f.name and f.value]
    if isinstance(obj, enum.Enum):
        return obj.name
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out: dict[str, Any] = {}
        for name in _FIELDS.get(type(obj)) or [f.name for f in dataclasses.fields(obj)]:
            value = getattr(obj, name)
            if value is None or value is False or value == ():
                continue
            out[name] = _plain(value)
        return out
    if isinstance(obj, tuple | list):
        return [_plain(x) for x in obj]
    if isinstance(obj, str):
        return obj.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return obj


def render_json(rules: RuleSet) -> str:
    return json.dumps(_plain(rules), indent=1)
