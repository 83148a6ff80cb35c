"""C escape sequences of ``e"..."`` values (systemd's cunescape() without flags)."""

from __future__ import annotations

_SIMPLE = {
    ord("a"): b"\a",
    ord("b"): b"\b",
    ord("f"): b"\f",
    ord("n"): b"\n",
    ord("r"): b"\r",
    ord("t"): b"\t",
    ord("v"): b"\v",
    ord("\\"): b"\\",
    ord('"'): b'"',
    ord("'"): b"'",
    ord("s"): b" ",
}
_HEX = b"0123456789abcdefABCDEF"
_OCT = b"01234567"


def _valid_unichar(c: int) -> bool:
    return c < 0x110000 and not 0xD800 <= c <= 0xDFFF and not 0xFDD0 <= c <= 0xFDEF and (c & 0xFFFE) != 0xFFFE


def _utf8(c: int) -> bytes:
    # surrogatepass: \uD800 is accepted by systemd and encoded like any other code point
    return chr(c).encode("utf-8", "surrogatepass")


def _one(s: bytes, i: int) -> tuple[bytes, int] | None:
    """Decode the escape whose letter is at ``s[i]``; (bytes, next index) or None if invalid."""
    c = s[i]
    simple = _SIMPLE.get(c)
    if simple is not None:
        return simple, i + 1
    if c == ord("x"):
        digits = s[i + 1 : i + 3]
        if len(digits) < 2 or any(d not in _HEX for d in digits):
            return None
        value = int(digits, 16)
        return None if value == 0 else (bytes([value]), i + 3)
    if c in (ord("u"), ord("U")):
        width = 4 if c == ord("u") else 8
        digits = s[i + 1 : i + 1 + width]
        if len(digits) < width or any(d not in _HEX for d in digits):
            return None
        value = int(digits, 16)
        if value == 0 or (width == 8 and not _valid_unichar(value)):
            return None
        return _utf8(value), i + 1 + width
    if c in _OCT:
        digits = s[i : i + 3]
        if len(digits) < 3 or any(d not in _OCT for d in digits):
            return None
        value = int(digits, 8)
        if value == 0 or value > 255:
            return None
        return bytes([value]), i + 3
    return None


def unescape(s: bytes) -> bytes | None:
    """The unescaped bytes, or None when an escape is invalid (udevd then drops the line)."""
    if b"\\" not in s:
        return s
    out = bytearray()
    i = 0
    n = len(s)
    while i < n:
        j = s.find(b"\\", i)
        if j < 0:
            out += s[i:]
            break
        out += s[i:j]
        if j + 1 >= n:
            return None
        decoded = _one(s, j + 1)
        if decoded is None:
            return None
        out += decoded[0]
        i = decoded[1]
    return bytes(out)
