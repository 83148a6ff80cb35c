"""systemd's unit-file syntax: text -> sections of assignments, with diagnostics.

Behaviour mirrors systemd 252's conf-parser: comment lines (`#`, `;`) are dropped even inside a
continuation; a line ending in an unescaped backslash continues on the next line with the
backslash replaced by a space; keys and values are stripped; an assignment is reported at the
line number of its last physical line. Unknown sections, assignments outside a section and
lines without `=` are warnings and skipped; a broken section header or a non-UTF-8 line makes
the whole file fail, as systemd refuses to load such a unit.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import NamedTuple

from compat.model import Diagnostic, Severity

LONG_LINE_MAX = 1024 * 1024
_WHITESPACE = " \t\n\r"
_COMMENTS = "#;"
_BOM = "\ufeff"
# systemd's read_line() ends a line at \n, \r\n, \r or NUL.
_EOL = re.compile("\r\n|[\r\n\0]")


class Assignment(NamedTuple):
    section: str
    key: str
    value: str
    path: str
    line: int


@dataclass
class ParsedFile:
    path: str
    assignments: list[Assignment] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    # Set when systemd would refuse the file as a whole; the text is the errno-style reason.
    fatal: str | None = None


def _ends_escaped(text: str) -> bool:
    # An odd run of trailing backslashes: the last one is not itself escaped.
    return (len(text) - len(text.rstrip("\\"))) % 2 == 1


_UNSAFE = re.compile("[\x00-\x1f\x7f\"'\\\\]")


def _is_safe(text: str) -> bool:
    return _UNSAFE.search(text) is None


_NOT_UTF8 = re.compile("[\udc80-\udcff]")


def _is_utf8(text: str) -> bool:
    # Files are decoded with surrogateescape: lone surrogates mark bytes that were not UTF-8.
    return _NOT_UTF8.search(text) is None


def decode(data: bytes) -> str:
    """Bytes of a unit file -> text; invalid UTF-8 survives as surrogates and is reported per line."""
    return data.decode("utf-8", "surrogateescape")


def parse(text: str, path: str, sections: Collection[str] | None = None) -> ParsedFile:
    """Parse one file. `sections`: the section names known for this unit type (None: any)."""
    result = ParsedFile(path)
    state = _State(result, sections, check_utf8=not _is_utf8(text))
    # A continued line is kept as pieces, so that long continuations stay linear.
    pieces: list[str] = []
    pieces_len = 0
    lineno = 0

    def too_long(message: str, line: int) -> ParsedFile:
        result.fatal = "No buffer space available"
        result.diagnostics.append(Diagnostic(path, line, message, Severity.ERROR))
        return result

    check_long = len(text) > LONG_LINE_MAX
    bom_seen = _BOM not in text  # nothing to strip: spares a startswith() per line
    handle = state.line
    for raw in _EOL.split(text):
        if check_long and len(raw) > LONG_LINE_MAX:
            return too_long("Line too long", lineno)  # systemd names the last line it could read
        lineno += 1
        stripped = raw.lstrip(_WHITESPACE)
        if stripped:
            if stripped[0] in _COMMENTS:
                continue
        elif not pieces:
            continue
        line = raw
        if not bom_seen and raw.startswith(_BOM):
            line, bom_seen = raw[1:], True
        if pieces and pieces_len + len(line) > LONG_LINE_MAX:
            return too_long("Continuation line too long", lineno)
        # The previous piece ends in a space, so only this line decides whether it continues.
        if _ends_escaped(line):
            pieces.append(line[:-1] + " ")
            pieces_len += len(line)
            continue
        joined = "".join(pieces) + line if pieces else line
        pieces, pieces_len = [], 0
        if not handle(joined, lineno):
            return result
    # A final newline leaves an empty last element that already consumed any continuation.
    if pieces:
        state.line("".join(pieces), lineno + 1)
    return result


class _State:
    def __init__(self, result: ParsedFile, sections: Collection[str] | None, check_utf8: bool) -> None:
        self.result = result
        self.check_utf8 = check_utf8
        self.sections = sections
        self.section: str | None = None
        self.section_ignored = False

    def _warn(self, line: int, message: str) -> None:
        self.result.diagnostics.append(Diagnostic(self.result.path, line, message))

    def _fail(self, line: int, message: str, reason: str) -> bool:
        self.result.diagnostics.append(Diagnostic(self.result.path, line, message, Severity.ERROR))
        self.result.fatal = reason
        return False

    def line(self, text: str, lineno: int) -> bool:
        """Handle one logical line; False when the file must be rejected."""
        text = text.strip(_WHITESPACE)
        if not text:
            return True
        if self.check_utf8 and not _is_utf8(text):
            shown = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
            return self._fail(
                lineno, f"String is not UTF-8 clean, ignoring assignment: {shown}", "Invalid argument"
            )
        if text[0] == "[":
            return self._section(text, lineno)
        if self.section is None:
            if not self.section_ignored:
                self._warn(lineno, "Assignment outside of section. Ignoring.")
            return True
        key, eq, value = text.partition("=")
        if not eq:
            self._warn(lineno, "Missing '=', ignoring line.")
            return True
        if not key:
            self._warn(lineno, "Missing key name before '=', ignoring line.")
            return True
        key, value = key.strip(_WHITESPACE), value.strip(_WHITESPACE)
        self.result.assignments.append(Assignment(self.section, key, value, self.result.path, lineno))
        return True

    def _section(self, text: str, lineno: int) -> bool:
        if text[-1] != "]":
            return self._fail(lineno, f"Invalid section header '{text}'", "Bad message")
        name = text[1:-1]
        if not _is_safe(name):
            return self._fail(lineno, f"Bad characters in section header '{text}'", "Bad message")
        if self.sections is not None and name not in self.sections:
            if not name.startswith("X-"):
                self._warn(lineno, f"Unknown section '{name}'. Ignoring.")
            self.section = None
            self.section_ignored = True
        else:
            self.section = name
            self.section_ignored = False
        return True
