"""Messages about rules files, at the severity udevd 252 logs them with."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Severity(enum.IntEnum):
    """syslog levels; lower is worse."""

    ERROR = 3
    WARNING = 4
    NOTICE = 5
    DEBUG = 7

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class Diagnostic:
    path: str
    line: int  # 0: about the whole file
    severity: Severity
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.severity.label}: {self.message}"


class DiagnosticSink:
    """Collects diagnostics for one file, attributing them to the line being compiled."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.line = 0
        self.items: list[Diagnostic] = []

    def add(self, severity: Severity, message: str, line: int | None = None) -> None:
        self.items.append(Diagnostic(self.path, self.line if line is None else line, severity, message))

    def error(self, message: str, line: int | None = None) -> None:
        self.add(Severity.ERROR, message, line)

    def warning(self, message: str, line: int | None = None) -> None:
        self.add(Severity.WARNING, message, line)

    def notice(self, message: str, line: int | None = None) -> None:
        self.add(Severity.NOTICE, message, line)

    def debug(self, message: str, line: int | None = None) -> None:
        self.add(Severity.DEBUG, message, line)
