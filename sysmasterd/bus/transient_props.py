"""StartTransientUnit's properties -> the unit-file lines systemd writes for them.

systemd applies each property to the unit and records it as a line of the transient unit file
(`unit_write_settingf()`), so the file alone rebuilds the unit after daemon-reload or a restart.
Here the file is the only path: the properties become lines, and compat loads the file like any
other. What a file cannot hold (AddRef, the PIDs of a scope, the stdio descriptors a service is
handed) is returned beside the lines.

The wire forms are those systemd-run, systemctl and pystemd send (systemd's bus-unit-util.c):
most properties carry a directive's own name and a plain value; `*USec` values are the `*Sec=`
directive in microseconds; commands, timers, listeners, paths and conditions are arrays of
structs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from compat import directives
from compat.config import TYPE_SECTION
from compat.model import UnitKind
from sysmasterd.bus import errors
from sysmasterd.bus.defaults import UINT64_MAX
from sysmasterd.bus.unitprops import permyriad_text

# The kinds systemd 252 makes transient (can_transient in their vtables) that we run.
TRANSIENT_KINDS = frozenset({UnitKind.SERVICE, UnitKind.SCOPE, UnitKind.SLICE, UnitKind.TIMER,
                             UnitKind.SOCKET, UnitKind.PATH})
# The descriptor a service gets as its fd 0, 1 or 2 (systemd-run --pipe and --pty send them).
_FD_PROPERTIES = {"StandardInputFileDescriptor": 0, "StandardOutputFileDescriptor": 1,
                  "StandardErrorFileDescriptor": 2}
_EXEC_FLAG_CHARS = {"ignore-failure": "-", "privileged": "+", "no-setuid": "!", "ambient": "!!",
                    "no-env-expand": ":"}
_SOCKET_LISTEN = {"Stream", "Datagram", "SequentialPacket", "FIFO", "Special", "Netlink", "MessageQueue",
                  "USBFunction"}
_PATH_KINDS = {"PathExists", "PathExistsGlob", "PathChanged", "PathModified", "DirectoryNotEmpty"}
_MONOTONIC_TIMERS = {"OnActiveUSec": "OnActiveSec", "OnBootUSec": "OnBootSec", "OnStartupUSec": "OnStartupSec",
                     "OnUnitActiveUSec": "OnUnitActiveSec", "OnUnitInactiveUSec": "OnUnitInactiveSec"}


@dataclass
class TransientSettings:
    """One unit's properties, converted."""

    lines: list[tuple[str, str]] = field(default_factory=list)  # (section, line), in order
    add_ref: bool = False
    pids: list[int] = field(default_factory=list)
    # Target (0, 1, 2) -> a descriptor of the call's message: still the message's, so whoever
    # keeps one makes its own copy before the call's descriptors are closed.
    stdio_fds: dict[int, int] = field(default_factory=dict)

    def text(self, name: str) -> str:
        """The transient unit file: a header, then each section with its lines in order."""
        out = ["# This is a transient unit file, created programmatically via the systemd API. Do not edit.",
               ""]
        by_section: dict[str, list[str]] = {}
        for section, line in self.lines:
            by_section.setdefault(section, []).append(line)
        for section, lines in by_section.items():
            out += [f"[{section}]", *lines, ""]
        return "\n".join(out)


def _escape(value: str) -> str:
    """A value as text that the unit-file reader gives back unchanged (no specifiers expand)."""
    return value.replace("%", "%%").replace("\n", " ")


def quote(word: str) -> str:
    """A word in double quotes with C escapes, read back as the same word.

    `$` stays single in command lines: systemd 252 runs the command it was sent, where `$VAR`
    expands at exec time, and shows it as sent; only its file (read again on daemon-reload) has
    `$$`. Ours is read back at once, so it carries the command as sent."""
    text = word.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{text.replace("%", "%%")}"'


def _bad(name: str, signature: str) -> Exception:
    return errors.invalid_args(f"Invalid type '{signature}' for property {name}.")


def _refuse(name: str) -> Exception:
    return errors.bus_error(errors.PROPERTY_READ_ONLY, f"Cannot set property {name}, or unknown property.")


def _section_of(kind: UnitKind, directive: str) -> str | None:
    if directive in directives.SECTIONS["Unit"]:
        return "Unit"
    section = TYPE_SECTION.get(kind)
    if section and directive in directives.SECTIONS.get(section, frozenset()):
        return section
    return None


def _usec(value: int) -> str:
    return "infinity" if value == UINT64_MAX else f"{value}us"


def _command(name: str, path: str, argv: list[str], prefix: str) -> str:
    words = " ".join(quote(a) for a in argv)
    return f"{name}={prefix}@{quote(path)} {words}".rstrip()


def _exec_lines(name: str, signature: str, value: list[Any]) -> list[str]:
    if not value:
        return [f"{name}="]
    out = []
    for item in value:
        if signature == "a(sasb)":
            path, argv, ignore = item
            prefix = "-" if ignore else ""
        else:
            path, argv, flags = item
            unknown = [f for f in flags if f not in _EXEC_FLAG_CHARS]
            if unknown:
                raise errors.invalid_args(f"Invalid exec command flag: {unknown[0]}")
            prefix = "".join(_EXEC_FLAG_CHARS[f] for f in flags)
        if not path or not argv:
            raise errors.invalid_args(f"{name} needs a path and at least one argument.")
        out.append(_command(name, path, argv, prefix))
    return out


def _struct_lines(name: str, value: list[Any], allowed: set[str] | dict[str, str], kind: str) -> list[str]:
    """Arrays of (type, value) pairs: Listen (socket), Paths (path), TimersCalendar/-Monotonic."""
    out = []
    for key, item in value:
        if key not in allowed:
            raise errors.invalid_args(f"Unknown {kind} type: {key}")
        if name == "Listen":
            out.append(f"Listen{key}={_escape(item)}")
        elif name == "TimersMonotonic":
            out.append(f"{allowed[key] if isinstance(allowed, dict) else key}={_usec(item)}")
        else:
            out.append(f"{key}={_escape(item)}")
    if not value:
        reset = {"TimersCalendar": ["OnCalendar="], "TimersMonotonic": [f"{k}=" for k in _MONOTONIC_TIMERS.values()],
                 "Listen": [], "Paths": []}
        out = reset[name]
    return out


def _conditions(name: str, value: list[Any]) -> list[str]:
    """Conditions/Asserts: a(sbbs) of (type, trigger, negate, parameter)."""
    prefix = "Condition" if name == "Conditions" else "Assert"
    out = []
    for ctype, trigger, negate, parameter in value:
        directive = ctype if ctype.startswith(prefix) else prefix + ctype
        if directive not in directives.SECTIONS["Unit"]:
            raise errors.invalid_args(f"Invalid condition type: {ctype}")
        out.append(f"{directive}={'|' if trigger else ''}{'!' if negate else ''}{_escape(parameter)}")
    return out


def _plain(name: str, signature: str, value: Any) -> str:
    if signature == "b":
        return f"{name}={'yes' if value else 'no'}"
    if signature in ("i", "u", "t", "x", "q", "y", "n"):
        if name.startswith("Limit") and value == UINT64_MAX:
            return f"{name}=infinity"
        return f"{name}={value}"
    if signature == "s":
        return f"{name}={_escape(value)}"
    if signature == "as":
        if name in ("Environment", "UnsetEnvironment", "PassEnvironment"):
            return f"{name}=" + " ".join(quote(w) for w in value)
        return f"{name}=" + " ".join(_escape(w) for w in value)
    if signature == "(bas)":  # SystemCallFilter=, SystemCallLog=, RestrictAddressFamilies=...: a deny list is "~"
        allow, names = value
        return f"{name}={'' if allow or not names else '~'}" + " ".join(_escape(w) for w in names)
    if signature == "aay" and name == "LogExtraFields":  # one "FIELD=value" per array
        return f"{name}=" + " ".join(quote(bytes(w).decode(errors="surrogateescape")) for w in value)
    raise _bad(name, signature)


def convert(kind: UnitKind, props: list[Any], fds: Sequence[int] = ()) -> TransientSettings:
    """Every property checked and converted, or the error of the first bad one. `fds`: the
    message's descriptors, which its 'h' values index."""
    out = TransientSettings()
    soft_limits: dict[str, int] = {}
    hard_limits: dict[str, int] = {}
    for name, variant in props:
        signature, value = variant.signature, variant.value
        if name == "AddRef":
            if signature != "b":
                raise _bad(name, signature)
            out.add_ref = bool(value)
            continue
        if name == "PIDs":
            if kind is not UnitKind.SCOPE:
                raise _refuse(name)
            if signature != "au":
                raise _bad(name, signature)
            out.pids += [int(p) for p in value]
            continue
        if name in _FD_PROPERTIES:
            if kind is not UnitKind.SERVICE:
                raise _refuse(name)
            if signature != "h":
                raise _bad(name, signature)
            if not 0 <= value < len(fds):
                raise errors.invalid_args(f"Invalid file descriptor index for property {name}.")
            out.stdio_fds[_FD_PROPERTIES[name]] = fds[value]
            continue
        lines = _lines_of(kind, name, signature, value, soft_limits, hard_limits)
        if lines is None:
            raise _refuse(name)
        section = "Unit" if name in ("Conditions", "Asserts") else TYPE_SECTION.get(kind) or "Unit"
        if lines and "=" in lines[0]:
            found = _section_of(kind, lines[0].split("=", 1)[0])
            if found is None:
                raise _refuse(name)
            section = found
        out.lines += [(section, line) for line in lines]
    type_section = TYPE_SECTION.get(kind) or "Unit"
    for limit in sorted(hard_limits.keys() | soft_limits.keys()):
        hard = hard_limits.get(limit, soft_limits.get(limit, UINT64_MAX))
        soft = soft_limits.get(limit, hard)
        text = ["infinity" if v == UINT64_MAX else str(v) for v in (soft, hard)]
        out.lines.append((type_section, f"{limit}={text[0]}" if soft == hard else f"{limit}={text[0]}:{text[1]}"))
    return out


def _lines_of(kind: UnitKind, name: str, signature: str, value: Any,
              soft_limits: dict[str, int], hard_limits: dict[str, int]) -> list[str] | None:
    """The lines of one property; None: not a property a transient unit of this kind takes."""
    if name.startswith("Exec") and signature in ("a(sasb)", "a(sasas)"):
        directive = name.removesuffix("Ex")
        return _exec_lines(directive, signature, value) if _section_of(kind, directive) else None
    if name in ("Conditions", "Asserts"):
        if signature != "a(sbbs)":
            raise _bad(name, signature)
        return _conditions(name, value)
    struct_props: dict[str, tuple[UnitKind, set[str] | dict[str, str], str]] = {
        "Listen": (UnitKind.SOCKET, _SOCKET_LISTEN, "socket"),
        "Paths": (UnitKind.PATH, _PATH_KINDS, "path"),
        "TimersMonotonic": (UnitKind.TIMER, {**_MONOTONIC_TIMERS, **{v: v for v in _MONOTONIC_TIMERS.values()}},
                            "timer"),
        "TimersCalendar": (UnitKind.TIMER, {"OnCalendar"}, "timer"),
    }
    if name in struct_props:
        owner, allowed, what = struct_props[name]
        if kind is not owner:
            return None
        if signature not in ("a(ss)", "a(st)"):
            raise _bad(name, signature)
        return _struct_lines(name, value, allowed, what)
    if name.startswith("Limit") and signature == "t":
        if name.endswith("Soft"):
            soft_limits[name.removesuffix("Soft")] = value
        else:
            hard_limits[name] = value
        return [] if _section_of(kind, name.removesuffix("Soft")) else None
    if name.endswith("USec") and signature == "t":
        directive = name.removesuffix("USec") + "Sec"
        return [f"{directive}={_usec(value)}"] if _section_of(kind, directive) else None
    if _section_of(kind, name) is None:
        return None
    if name == "ManagedOOMMemoryPressureLimit" and signature == "u":  # sent scaled, UINT32_MAX = 100%
        return [f"{name}={permyriad_text(value)}"]
    return [_plain(name, signature, value)]
