"""Object paths of units and jobs, escaped the way sd-bus escapes path labels."""

from __future__ import annotations

import functools
import string

MANAGER_PATH = "/org/freedesktop/systemd1"
UNIT_PREFIX = "/org/freedesktop/systemd1/unit/"
JOB_PREFIX = "/org/freedesktop/systemd1/job/"

_KEEP = frozenset(string.ascii_letters + string.digits)
# byte -> its escaped form, for all but a leading digit (which is escaped too).
_ESCAPED = [chr(b) if chr(b) in _KEEP else f"_{b:02x}" for b in range(256)]


@functools.lru_cache(maxsize=4096)
def escape_label(label: str) -> str:
    """Letters stay, digits stay except in first place, every other byte becomes _xx."""
    if not label:
        return "_"
    raw = label.encode()
    head = f"_{raw[0]:02x}" if chr(raw[0]).isdigit() else _ESCAPED[raw[0]]
    return head + "".join([_ESCAPED[b] for b in raw[1:]])


def unescape_label(label: str) -> str | None:
    """Inverse of escape_label; None when the label is not a valid escape."""
    if label == "_":
        return ""
    raw = bytearray()
    i = 0
    while i < len(label):
        ch = label[i]
        if ch == "_":
            pair = label[i + 1 : i + 3]
            if len(pair) != 2 or any(c not in string.hexdigits for c in pair):
                return None
            raw.append(int(pair, 16))
            i += 3
        else:
            if ch not in _KEEP:
                return None
            raw.append(ord(ch))
            i += 1
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return None


@functools.lru_cache(maxsize=4096)  # bounded: clients may name any number of units
def unit_path(name: str) -> str:
    """The object path of a unit (cached: every ListUnits row and signal needs one)."""
    return UNIT_PREFIX + escape_label(name)


def unit_name_from_path(path: str) -> str | None:
    if not path.startswith(UNIT_PREFIX):
        return None
    return unescape_label(path[len(UNIT_PREFIX) :])


def job_id_from_path(path: str) -> int | None:
    if not path.startswith(JOB_PREFIX):
        return None
    tail = path[len(JOB_PREFIX) :]
    return int(tail) if tail.isdigit() and len(tail) < 11 else None
