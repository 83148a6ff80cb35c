"""Integers as C's strtol(..., base 0) reads them, the syntax behind systemd's safe_atoi() & co."""

from __future__ import annotations

import re

_WHITESPACE = " \t\n\r"
_C_INT = re.compile(r"([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)")


def c_integer(text: str, *, signed: bool = True) -> int:
    """An integer as strtol(..., 0) reads it, which systemd's safe_atoi() & co use: `0x1f` is hex,
    `010` is octal (so `0999` is invalid), leading whitespace and `+` are accepted."""
    m = _C_INT.fullmatch(text.lstrip(_WHITESPACE))
    if not m or (m.group(1) == "-" and not signed):
        raise ValueError(f"not an integer: {text}")
    digits = m.group(2)
    if digits[:2] in ("0x", "0X"):
        value = int(digits[2:], 16)
    elif digits.startswith("0"):
        value = int(digits, 8)
    else:
        value = int(digits)
    return -value if m.group(1) == "-" else value
