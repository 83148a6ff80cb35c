"""Splitting values into words the way systemd's extract_first_word() does, with C unescaping.

Bytes that escapes produce outside UTF-8 (`\\xff`) are kept as surrogate-escaped characters, so
`os.fsencode()` gives back the exact bytes for argv.
"""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Iterator

WHITESPACE = " \t\n\r"
_HEX = "0123456789abcdefABCDEF"
_SIMPLE = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
           "\\": "\\", '"': '"', "'": "'", "s": " "}  # fmt: skip


class Extract(enum.Flag):
    NONE = 0
    UNQUOTE = enum.auto()  # remove '...' and "..." quoting
    CUNESCAPE = enum.auto()  # decode C escapes; an invalid escape is an error
    UNESCAPE_RELAX = enum.auto()  # keep invalid escapes and a trailing backslash verbatim
    RETAIN_ESCAPE = enum.auto()  # backslashes are ordinary characters
    RELAX = enum.auto()  # tolerate unbalanced quotes at the end


def _byte(value: int) -> str:
    return chr(value) if value < 0x80 else chr(0xDC00 + value)


def cunescape_one(text: str, pos: int) -> tuple[str, int] | None:
    """Decode the escape whose letter is at text[pos]; (decoded, length) or None if invalid."""
    c = text[pos : pos + 1]
    if c in _SIMPLE:
        return _SIMPLE[c], 1
    if c == "x":
        digits = text[pos + 1 : pos + 3]
        if len(digits) == 2 and all(d in _HEX for d in digits) and digits != "00":
            return _byte(int(digits, 16)), 3
        return None
    if c in ("u", "U"):
        n = 4 if c == "u" else 8
        digits = text[pos + 1 : pos + 1 + n]
        if len(digits) != n or not all(d in _HEX for d in digits):
            return None
        code = int(digits, 16)
        if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            return None
        return chr(code), n + 1
    if c and c in "01234567":
        digits = text[pos : pos + 3]
        if len(digits) != 3 or not all(d in "01234567" for d in digits):
            return None
        code = int(digits, 8)
        if code == 0 or code > 255:
            return None
        return _byte(code), 3
    return None


def cunescape(text: str) -> str:
    """Decode all C escapes of a string; ValueError on an invalid one."""
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] != "\\":
            out.append(text[i])
            i += 1
            continue
        decoded = cunescape_one(text, i + 1)
        if decoded is None:
            raise ValueError("Invalid escape sequence")
        out.append(decoded[0])
        i += 1 + decoded[1]
    return "".join(out)


@functools.cache
def _plain_word(separators: str) -> re.Pattern[str]:
    return re.compile("[^" + re.escape(separators + "\\'\"") + "]*")


class WordSplitter:
    """Stateful word extraction over one string; `rest` is what is left after the last word."""

    def __init__(self, text: str, flags: Extract, separators: str = WHITESPACE) -> None:
        self.text = text
        self.pos = 0
        self.flags = flags
        self.separators = separators

    @property
    def rest(self) -> str:
        return self.text[self.pos :]

    def skip_separators(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in self.separators:
            self.pos += 1

    def next(self) -> str | None:
        """The next word, None at the end; ValueError on bad quoting or escapes."""
        text, flags, seps = self.text, self.flags, self.separators
        self.skip_separators()
        if self.pos >= len(text):
            return None
        # Most words have no quote or backslash: then the word is simply up to the next separator.
        end = _plain_word(seps).match(text, self.pos).end()  # type: ignore[union-attr]
        if end == len(text) or text[end] in seps:
            word = text[self.pos:end]
            self.pos = end
            self.skip_separators()
            return word
        out: list[str] = []
        quote = ""
        i = self.pos
        while True:
            if i >= len(text):
                if quote and not flags & Extract.RELAX:
                    self.pos = i
                    raise ValueError("Unbalanced quoting")
                break
            c = text[i]
            if c == "\\" and not flags & Extract.RETAIN_ESCAPE:
                i = self._escape(out, i, quote)
                continue
            if quote:
                if c == quote:
                    quote = ""
                    if not flags & Extract.UNQUOTE:
                        out.append(c)
                else:
                    out.append(c)
                i += 1
                continue
            if c in "'\"" and flags & Extract.UNQUOTE:
                quote = c
                i += 1
                continue
            if c in seps:
                break
            out.append(c)
            i += 1
        self.pos = i
        self.skip_separators()
        return "".join(out)

    def _escape(self, out: list[str], i: int, quote: str) -> int:
        text, flags = self.text, self.flags
        if i + 1 >= len(text):
            if flags & Extract.UNESCAPE_RELAX and (not quote or flags & Extract.RELAX):
                out.append("\\")
                return i + 1
            if flags & Extract.RELAX:
                return i + 1
            self.pos = i
            raise ValueError("Trailing backslash")
        if flags & Extract.CUNESCAPE:
            decoded = cunescape_one(text, i + 1)
            if decoded is not None:
                out.append(decoded[0])
                return i + 1 + decoded[1]
            if flags & Extract.UNESCAPE_RELAX:
                out.append("\\" + text[i + 1])
                return i + 2
            self.pos = i
            raise ValueError("Invalid escape sequence")
        out.append(text[i + 1])
        return i + 2

    def next_relaxed(self) -> tuple[str | None, str | None]:
        """extract_first_word_and_warn(): (word, warning). An invalid escape is kept verbatim with
        a warning; unbalanced quoting still raises ValueError."""
        save = self.pos
        try:
            return self.next(), None
        except ValueError:
            if self.flags & Extract.UNESCAPE_RELAX:
                raise
        relaxed = WordSplitter(self.text, self.flags | Extract.UNESCAPE_RELAX, self.separators)
        relaxed.pos = save
        word = relaxed.next()
        self.pos = relaxed.pos
        return word, f'Ignoring unknown escape sequences: "{word}"'

    def __iter__(self) -> Iterator[str]:
        while (word := self.next()) is not None:
            yield word


_WHITESPACE_WORD = re.compile("[^" + WHITESPACE + "]+")


def split_words(text: str, flags: Extract = Extract.UNQUOTE, separators: str = WHITESPACE) -> list[str]:
    # Without quotes or backslashes no flag changes anything: every word is a run of non-separators.
    if separators == WHITESPACE and "\\" not in text and "'" not in text and '"' not in text:
        return _WHITESPACE_WORD.findall(text)
    return list(WordSplitter(text, flags, separators))
