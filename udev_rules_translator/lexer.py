"""Rules file bytes -> logical lines -> ``KEY{attr} OP "value"`` pairs.

Works on bytes like udevd: the 16384-byte limit counts bytes, and a value may hold any byte
(returned as ``str`` decoded with surrogateescape, so nothing is lost).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from udev_rules_translator import cescape
from udev_rules_translator.diagnostics import DiagnosticSink
from udev_rules_translator.model import Operator

LINE_SIZE = 16384  # udevd's UDEV_LINE_SIZE
WHITESPACE = b" \t\n\r"

# read_line(): \n, \r, \0 and their combinations (\r\n, \n\r, \n\0, \r\n\0, ...) end a line
_EOL = re.compile(rb"(?:\n\r?|\r\n?)\0?|\0")
_KEY = re.compile(rb"[ \t\n\r,]*([^ \t\n\r={]*?)(?=[ \t\n\r={]|[+\-!:]=)")
_OPERATOR = re.compile(rb"[ \t\n\r]*(==|!=|\+=|-=|=|:=)[ \t\n\r]*")
_PLAIN_VALUE = re.compile(rb'(?:\\"|[^"])*+"')
_ESCAPED_VALUE = re.compile(rb'(?:\\.|[^"\\])*+"', re.DOTALL)
_SEPARATORS = re.compile(rb"[ \t\n\r,]*")
_OPERATORS = {op.value.encode(): op for op in Operator}


def decode(b: bytes) -> str:
    return b.decode("utf-8", "surrogateescape")


@dataclass(frozen=True, slots=True)
class LogicalLine:
    number: int  # of the last physical line, as udevd reports it
    text: bytes


@dataclass(frozen=True, slots=True)
class Pair:
    key: str
    attr: str | None  # None: no {...}; "" for an empty one
    op: Operator
    value: str


class InvalidPair(ValueError):
    """The rest of the line is not KEY[{attr}] OP "value" (udevd drops the line)."""


def _physical_lines(data: bytes) -> Iterator[bytes]:
    """The lines one at a time: a list of them all beside the compiled program was as large as
    the file again at the compiler's peak."""
    start = 0
    for end in _EOL.finditer(data):
        yield data[start : end.start()]
        start = end.end()
    if start < len(data):
        yield data[start:]


def logical_lines(data: bytes, sink: DiagnosticSink) -> Iterator[LogicalLine]:
    """Join continuations, skip comments and blank lines, drop over-long lines with an error."""
    continuation: bytes | None = None
    too_long = False
    for number, raw in enumerate(_physical_lines(data), start=1):
        line = raw.lstrip(WHITESPACE)
        if len(raw) >= LINE_SIZE:
            # udevd 252 gives up on the rest of the file here; we drop only this logical line
            too_long = True
        elif line.startswith(b"#"):
            continue
        elif continuation is not None and not too_long:
            if len(continuation) + len(line) >= LINE_SIZE:
                too_long = True
            else:
                line = continuation + line
        if line.endswith(b"\\"):
            if not too_long:
                continuation = line[:-1]
            continue
        if too_long:
            sink.error("Line is too long, ignored", number)
        elif line:
            yield LogicalLine(number, line)
        continuation = None
        too_long = False


def _value(line: bytes, pos: int) -> tuple[bytes, int]:
    escaped = line.startswith(b'e"', pos)
    start = pos + 1 + escaped
    if not line.startswith(b'"', start - 1):
        raise InvalidPair
    if escaped:
        m = _ESCAPED_VALUE.match(line, start)
        if m is None:
            raise InvalidPair
        value = cescape.unescape(line[start : m.end() - 1])
        if value is None:
            raise InvalidPair
        # a C string: whatever follows an escaped NUL is gone (NULs are refused, but be safe)
        return value.split(b"\0", 1)[0], m.end()
    m = _PLAIN_VALUE.match(line, start)
    if m is None:
        raise InvalidPair
    return line[start : m.end() - 1].replace(b'\\"', b'"'), m.end()


def pairs(line: bytes) -> Iterator[Pair]:
    """The pairs of a logical line, lazily: InvalidPair is raised where the syntax breaks."""
    pos = 0
    n = len(line)
    while True:
        pos = _SEPARATORS.match(line, pos).end()  # type: ignore[union-attr]
        if pos >= n:
            return
        m = _KEY.match(line, pos)
        if m is None:
            raise InvalidPair
        key = m.group(1)
        pos = m.end()
        attr: bytes | None = None
        if line.startswith(b"{", pos):
            close = line.find(b"}", pos + 1)
            if close < 0:
                raise InvalidPair
            attr = line[pos + 1 : close]
            pos = close + 1
        om = _OPERATOR.match(line, pos)
        if om is None:
            raise InvalidPair
        op = _OPERATORS[om.group(1)]
        value, pos = _value(line, om.end())
        yield Pair(decode(key), None if attr is None else decode(attr), op, decode(value))
