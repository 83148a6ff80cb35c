"""Shell glob matching with glibc ``fnmatch(pattern, string, 0)`` semantics.

Python's :mod:`fnmatch` differs from glibc where udev rules notice it: a backslash quotes
the next character, ``[[:digit:]]`` classes exist, and an unclosed ``[`` is a literal.
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Callable

GLOB_CHARS = "*?["

_CLASSES = {
    "alnum": "a-zA-Z0-9",
    "alpha": "a-zA-Z",
    "blank": " \\t",
    "cntrl": "\\x00-\\x1f\\x7f",
    "digit": "0-9",
    "graph": "\\x21-\\x7e",
    "lower": "a-z",
    "print": "\\x20-\\x7e",
    "punct": "!-/:-@\\[-`{-~",
    "space": " \\t\\n\\r\\f\\v",
    "upper": "A-Z",
    "xdigit": "0-9A-Fa-f",
}


def is_glob(text: str) -> bool:
    """udev's string_is_glob(): any of ``*?[`` makes a pattern a glob."""
    return "*" in text or "?" in text or "[" in text  # GLOB_CHARS, without a generator per call


def _bracket(pattern: str, start: int) -> tuple[str, int] | None:
    """Translate the bracket expression opening at ``start``; None when it never closes."""
    i = start + 1
    n = len(pattern)
    negate = i < n and pattern[i] in "!^"
    if negate:
        i += 1
    items: list[str] = []
    first = True
    while i < n:
        c = pattern[i]
        if c == "]" and not first:
            body = "".join(items)
            if not body:  # only reversed ranges, like glibc's `[z-a]`: no character is in it
                return ("." if negate else "(?!)"), i + 1
            return ("[^" if negate else "[") + body + "]", i + 1
        first = False
        if c == "[" and pattern.startswith("[:", i):
            end = pattern.find(":]", i + 2)
            name = pattern[i + 2 : end] if end >= 0 else ""
            if name in _CLASSES:
                items.append(_CLASSES[name])
                i = end + 2
                continue
        if c == "\\" and i + 1 < n:
            i += 1
            c = pattern[i]
        if i + 2 < n and pattern[i + 1] == "-" and pattern[i + 2] != "]":
            hi = pattern[i + 2]
            j = i + 3
            if hi == "\\" and j < n:
                hi = pattern[j]
                j += 1
            if ord(hi) >= ord(c):
                items.append(re.escape(c) + "-" + re.escape(hi))
            i = j
            continue
        items.append(re.escape(c))
        i += 1
    return None


def _items(pattern: str) -> list[str | None]:
    """The glob as a list of single-character regexes, None standing for ``*``."""
    items: list[str | None] = []
    i = 0
    n = len(pattern)
    while i < n:
        c = pattern[i]
        if c == "*":
            items.append(None)
        elif c == "?":
            items.append(".")
        elif c == "[":
            bracket = _bracket(pattern, i)
            if bracket is not None:
                items.append(bracket[0])
                i = bracket[1]
                continue
            items.append(re.escape(c))
        elif c == "\\" and i + 1 < n:
            i += 1
            items.append(re.escape(pattern[i]))
        else:
            items.append(re.escape(c))
        i += 1
    return items


def _segments_matcher(items: list[str | None]) -> Callable[[str], bool]:
    """Match the star-separated segments left to right, each at its earliest position.

    With several stars a backtracking regex takes exponential time on a long value. Every item
    matches exactly one character, so segments have fixed lengths: the first must match at the
    start, the last at the end, and taking the earliest occurrence of each one between leaves
    the most room for the rest. That is always right for globs, and polynomial.
    """
    segments: list[list[str]] = [[]]
    for item in items:
        if item is None:
            segments.append([])
        else:
            segments[-1].append(item)
    head, *middle, tail = (re.compile("".join(seg), re.DOTALL) for seg in segments)
    tail_len = len(segments[-1])

    def match(text: str) -> bool:
        m = head.match(text)
        if m is None:
            return False
        pos = m.end()
        for segment in middle:
            found = segment.search(text, pos)
            if found is None:
                return False
            pos = found.end()
        end = len(text) - tail_len
        return end >= pos and tail.fullmatch(text, end) is not None

    return match


def _star_pieces(pattern: str) -> list[str] | None:
    """The literal pieces between the stars, escapes undone; None when ``?`` or ``[`` occurs."""
    pieces: list[str] = []
    piece: list[str] = []
    i = 0
    n = len(pattern)
    while i < n:
        c = pattern[i]
        if c in "?[":
            return None
        if c == "*":
            pieces.append("".join(piece))
            piece = []
        else:
            if c == "\\" and i + 1 < n:
                i += 1
            piece.append(pattern[i])
        i += 1
    pieces.append("".join(piece))
    return pieces


def _shape_matcher(pattern: str) -> Callable[[str], bool] | None:
    """The common shapes (``lit``, ``pre*``, ``*suf``, ``pre*suf``, ``*mid*``) as string methods:
    a large rules file has one glob per line, and compiling a regex for each took seconds."""
    pieces = _star_pieces(pattern)
    if pieces is None or len(pieces) > 3:
        return None
    if len(pieces) == 1:
        return operator.methodcaller("__eq__", pieces[0])
    if len(pieces) == 3:
        if pieces[0] or pieces[2]:
            return None
        return operator.methodcaller("__contains__", pieces[1])
    head, tail = pieces
    if not tail:
        return operator.methodcaller("startswith", head)
    if not head:
        return operator.methodcaller("endswith", tail)
    least = len(head) + len(tail)
    return lambda text: len(text) >= least and text.startswith(head) and text.endswith(tail)


@functools.lru_cache(maxsize=4096)
def compiled(pattern: str) -> Callable[[str], bool]:
    shaped = _shape_matcher(pattern)
    if shaped is not None:
        return shaped
    items = _items(pattern)
    if items.count(None) <= 1:
        regex = re.compile("".join(".*" if item is None else item for item in items), re.DOTALL)
        return lambda text: regex.fullmatch(text) is not None
    return _segments_matcher(items)


def fnmatch(pattern: str, text: str) -> bool:
    return compiled(pattern)(text)
