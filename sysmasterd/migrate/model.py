"""The report: entries per file (unit or rules file), a status per file, a summary."""

from __future__ import annotations

import enum
from collections import Counter
from dataclasses import dataclass, field


class Status(enum.Enum):
    SUPPORTED = "supported"  # nothing to report
    WARNINGS = "warnings"  # loads and runs, but something in it is ignored or treated differently
    UNSUPPORTED = "unsupported"  # does not run at all under sysmaster-py


class Source(enum.Enum):
    """Who says so. `LOAD` entries are exactly what the daemon logs when it loads the file."""

    LOAD = "load"  # a diagnostic logged at load (sysmasterd: compat; devmaster: the translator)
    UNIT_TYPE = "unit-type"  # the unit type has no implementation (refused at start)
    TYPE_SECTION = "type-section"  # a directive of that type's section, never read
    CONDITION = "condition"  # a Condition*/Assert* the manager cannot evaluate (taken as met)
    NOT_APPLIED = "not-applied"  # accepted without a warning, but has no effect
    RULES_KEY = "rules-key"  # a rules assignment devmaster records but does not apply
    BUILTIN = "builtin"  # a rules builtin that is missing or does nothing here


@dataclass(frozen=True)
class Entry:
    path: str
    line: int  # 0: about the whole file
    what: str
    instead: str
    source: Source
    severity: str = "warning"  # error | warning | notice, as logged
    same_as_systemd: bool = False  # systemd/udevd warn about this too and do the same

    def location(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass
class FileReport:
    """One unit (its fragment and drop-ins) or one rules file."""

    name: str  # unit id, or the rules file's path
    path: str  # the fragment or rules file ("" for a unit without one)
    status: Status = Status.SUPPORTED
    entries: list[Entry] = field(default_factory=list)
    detail: str = ""  # e.g. the load state of a unit that is not simply loaded

    def add(self, entry: Entry) -> None:
        if entry not in self.entries:
            self.entries.append(entry)
        if self.status is Status.SUPPORTED:
            self.status = Status.WARNINGS

    def refuse(self, why: str) -> None:
        self.status = Status.UNSUPPORTED
        self.detail = why


@dataclass
class Report:
    units: list[FileReport] = field(default_factory=list)
    rules: list[FileReport] = field(default_factory=list)
    scanned_unit_dirs: list[str] = field(default_factory=list)
    scanned_rules_dirs: list[str] = field(default_factory=list)

    @staticmethod
    def counts(files: list[FileReport]) -> dict[Status, int]:
        tally = Counter(f.status for f in files)
        return {s: tally.get(s, 0) for s in Status}

    @property
    def clean(self) -> bool:
        return all(f.status is Status.SUPPORTED for f in self.units + self.rules)
