"""Numbers in rule values, parsed as udevd's helpers parse them (safe_atoi, parse_mode, ...)."""

from __future__ import annotations

import re

EINVAL = "Invalid argument"
ERANGE = "Numerical result out of range"

_ID = re.compile(r"0|[1-9][0-9]*")
_MODE = re.compile(r"[ \t\n\r]*([0-7]+)")
_INT = re.compile(
    r"[ \t\n\r]*(?:0[bB](?P<bin>[-+]?[01]+)|0[oO](?P<oct>[-+]?[0-7]+)"
    r"|(?P<c>[-+]?(?:0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)))"
)
_LOG_LEVELS = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")


def parse_id(text: str) -> int | None:
    """parse_uid()/parse_gid(): strict decimal, no sign, no leading zero, not -1 or 65535."""
    if _ID.fullmatch(text) is None:
        return None
    value = int(text)
    if value >= 0xFFFFFFFF or value == 0xFFFF:
        return None
    return value


def parse_mode(text: str) -> tuple[int | None, str]:
    """parse_mode(): octal up to 07777 -> (mode, "") or (None, strerror)."""
    m = _MODE.fullmatch(text)
    if m is None:
        return None, EINVAL
    value = int(m.group(1), 8)
    if value > 0o7777:
        return None, ERANGE
    return value, ""


def _c_integer(text: str) -> int | None:
    """strtol() with base 0 as systemd's safe_ato*() call it: decimal, 0x hex, 0 octal, 0b / 0o."""
    m = _INT.fullmatch(text)
    if m is None:
        return None
    if m.group("bin") is not None:
        return int(m.group("bin"), 2)
    if m.group("oct") is not None:
        return int(m.group("oct"), 8)
    c = m.group("c")
    digits = c.lstrip("+-")
    sign = -1 if c.startswith("-") else 1
    if digits[:2] in ("0x", "0X"):
        return sign * int(digits[2:], 16)
    return sign * int(digits, 8 if digits.startswith("0") else 10)


def parse_int(text: str, bits: int = 32) -> tuple[int | None, str]:
    """safe_atoi() (safe_atoi64() with bits=64) -> (value, "") or (None, strerror)."""
    value = _c_integer(text)
    if value is None:
        return None, EINVAL
    if not -(2 ** (bits - 1)) <= value < 2 ** (bits - 1):
        return None, ERANGE
    return value, ""


def parse_unsigned(text: str) -> tuple[int | None, str]:
    """safe_atou(): as parse_int(), but a negative number (other than -0) is out of range."""
    value = _c_integer(text)
    if value is None:
        return None, EINVAL
    if value < 0 or value > 0xFFFFFFFF or (value and text.lstrip(" \t\n\r").startswith("-")):
        return None, ERANGE
    return value, ""


def parse_log_level(text: str) -> int | None:
    """log_level_from_string(): a syslog level name or 0..7."""
    if text in _LOG_LEVELS:
        return _LOG_LEVELS.index(text)
    if re.fullmatch(r"[0-7]", text):
        return int(text)
    return None
