"""Unit names: validation, type by suffix, templates and instances, and systemd-escape.

Rules follow systemd 252's unit-name.c: a name is `prefix[@instance].type`, at most 255 bytes,
made of ASCII letters, digits and `:-_.\\` (plus one `@` separating the instance). Escaping turns
`/` into `-` and anything else outside the alphabet into `\\xNN`, so that paths and arbitrary
strings fit into names.
"""

from __future__ import annotations

import functools
import string
from dataclasses import dataclass

from compat.model import UnitKind

UNIT_NAME_MAX = 256
_VALID = frozenset(string.ascii_letters + string.digits + ":-_.\\")
_VALID_WITH_AT = _VALID | {"@"}
_SUFFIXES = {kind.value: kind for kind in UnitKind}


@dataclass(frozen=True)
class UnitName:
    """A parsed, valid unit name. `instance` is None for plain names, "" for templates."""

    prefix: str
    instance: str | None
    kind: UnitKind

    @property
    def suffix(self) -> str:
        return self.kind.value

    @property
    def is_template(self) -> bool:
        return self.instance == ""

    @property
    def is_instance(self) -> bool:
        return bool(self.instance)

    @property
    def template(self) -> str:
        """`foo@bar.service` -> `foo@.service` (a template names itself)."""
        return f"{self.prefix}@.{self.suffix}"

    def __str__(self) -> str:
        if self.instance is None:
            return f"{self.prefix}.{self.suffix}"
        return f"{self.prefix}@{self.instance}.{self.suffix}"


@functools.lru_cache(maxsize=4096)  # bounded: a flood of names must not stay behind
def parse(name: str) -> UnitName | None:
    """Split a unit name into its parts; None if it is not a valid plain, template or instance name."""
    if not name or len(name.encode("utf-8", "surrogateescape")) >= UNIT_NAME_MAX:
        return None
    dot = name.rfind(".")
    if dot <= 0:
        return None
    kind = _SUFFIXES.get(name[dot + 1 :])
    if kind is None:
        return None
    stem = name[:dot]
    if any(c not in _VALID_WITH_AT for c in stem):
        return None
    at = stem.find("@")
    if at == 0:
        return None
    if at < 0:
        return UnitName(stem, None, kind)
    return UnitName(stem[:at], stem[at + 1 :], kind)


def is_valid(name: str, *, plain: bool = True, template: bool = True, instance: bool = True) -> bool:
    parsed = parse(name)
    if parsed is None:
        return False
    if parsed.instance is None:
        return plain
    return template if parsed.is_template else instance


def kind_of(name: str) -> UnitKind | None:
    parsed = parse(name)
    return parsed.kind if parsed else None


def instantiate(template: str, instance: str) -> str:
    """`foo@.service` + `bar` -> `foo@bar.service`."""
    parsed = parse(template)
    if parsed is None or not parsed.is_template:
        raise ValueError(f"not a template unit name: {template}")
    result = f"{parsed.prefix}@{instance}.{parsed.suffix}"
    if not is_valid(result):
        raise ValueError(f"invalid instance name: {result}")
    return result


def try_instantiate(template: str, instance: str) -> str | None:
    """instantiate(), or None when the result would not be a valid name (e.g. too long)."""
    try:
        return instantiate(template, instance)
    except ValueError:
        return None


def resolve_template(name: str, unit_id: str) -> str | None:
    """A dependency on a template from unit `unit_id` means the instance of the same name:
    `foo@.service` wanted by `bar@x.target` is `foo@x.service`, by `bar.target` `foo@bar.service`
    (systemd's resolve_template()). Other names pass through; None if the result is invalid."""
    parsed = parse(name)
    if parsed is None or not parsed.is_template:
        return name
    unit = parse(unit_id)
    if unit is None:
        return None
    return try_instantiate(name, unit.instance or unit.prefix)


def dropin_stems(name: str) -> list[str]:
    """Names whose `NAME.d/` directories hold drop-ins for `name`, within one search directory.

    In systemd 252's order: the name itself, its template, then the dash-prefix names, each with
    the same recursion, e.g. `foo-bar@x.service` -> `foo-bar@x.service`, `foo-bar@.service`,
    `foo-.service`, `foo-@x.service`, `foo-@.service`. The type-level `service.d/` is added by
    the caller, last.
    """
    parsed = parse(name)
    if parsed is None:
        return []
    stems = [name]
    if parsed.is_instance:
        stems += dropin_stems(parsed.template)
    prefix = parsed.prefix
    dash = prefix.rfind("-")
    if dash == len(prefix) - 1 and dash > 0:
        # A trailing dash is chopped once, so `foo-bar-` continues with `foo-`.
        dash = prefix.rfind("-", 0, dash)
    if dash <= 0:
        return stems
    # Like systemd, a template's prefix drop-in is a plain name: `foo-bar@.service` -> `foo-.service`.
    shorter = UnitName(prefix[: dash + 1], parsed.instance or None, parsed.kind)
    return stems + dropin_stems(str(shorter))


def _escape_char(c: str) -> str:
    return "".join(f"\\x{b:02x}" for b in c.encode("utf-8", "surrogateescape"))


def escape(text: str) -> str:
    """systemd-escape STRING."""
    out = []
    for i, c in enumerate(text):
        if c == "/":
            out.append("-")
        elif c in "-\\" or c not in _VALID or (i == 0 and c == "."):
            # A leading dot would make hidden unit files (e.g. for "/.dotdir" mount points).
            out.append(_escape_char(c))
        else:
            out.append(c)
    return "".join(out)


def unescape(text: str) -> str:
    """systemd-escape --unescape STRING: `\\xNN` decoded, `-` becomes `/`."""
    raw = bytearray()
    i = 0
    while i < len(text):
        c = text[i]
        if c == "-":
            raw += b"/"
            i += 1
        elif c == "\\":
            hexdigits = text[i + 2 : i + 4]
            if text[i + 1 : i + 2] != "x" or len(hexdigits) != 2 or not all(
                h in string.hexdigits for h in hexdigits
            ):
                raise ValueError(f"invalid escape sequence in {text!r}")
            raw.append(int(hexdigits, 16))
            i += 4
        else:
            raw += c.encode("utf-8", "surrogateescape")
            i += 1
    return raw.decode("utf-8", "surrogateescape")


def _normalize_path(path: str) -> str:
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ValueError(f"path is not normalized: {path}")
    return "/".join(parts)


def path_escape(path: str) -> str:
    """systemd-escape --path PATH: `/` -> `-`, `/foo/bar/` -> `foo-bar`."""
    simplified = _normalize_path(path)
    return escape(simplified) if simplified else "-"


def path_unescape(text: str) -> str:
    """systemd-escape --unescape --path STRING."""
    if not text:
        raise ValueError("empty string is not an escaped path")
    if text == "-":
        return "/"
    body = unescape(text)
    if body.startswith("/") or body.endswith("/"):
        raise ValueError(f"escaped path has leading or trailing slashes: {text}")
    if _normalize_path(body) != body:
        raise ValueError(f"escaped path is not normalized: {text}")
    return "/" + body


def from_path(path: str, suffix: str) -> str | None:
    """systemd's unit_name_from_path(): `/dev/sda1` + `device` -> `dev-sda1.device`; None when the
    path is not normalized or the name would be too long."""
    try:
        name = f"{path_escape(path)}.{suffix}"
    except ValueError:
        return None
    return name if is_valid(name, template=False, instance=False) else None


def to_path(name: str) -> str | None:
    """systemd's unit_name_to_path(): the path a unit name spells (`dev-sda1.swap` -> `/dev/sda1`);
    None if it spells none."""
    try:
        return path_unescape(name.rsplit(".", 1)[0])
    except ValueError:
        return None

def mangle(text: str) -> str | None:
    """systemd's unit_name_mangle() without globs: a valid name stays, a /dev or /sys path becomes
    its .device unit and another absolute path its .mount unit, anything else is escaped and gets
    `.service` unless it ends in a unit type. None when nothing valid comes out."""
    if is_valid(text):
        return text
    if text.startswith("/"):
        named = from_path(text, "device" if text.startswith(("/dev/", "/sys/")) else "mount")
        if named is not None:
            return named
    escaped = "".join("-" if c == "/" else c if c in _VALID_WITH_AT else _escape_char(c) for c in text)
    if kind_of(escaped) is None:
        escaped += ".service"
    return escaped if is_valid(escaped) else None
