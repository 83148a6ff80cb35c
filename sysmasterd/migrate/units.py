"""Unit files -> report entries, from the same code sysmasterd loads and runs them with.

- load diagnostics: compat's UnitLoader, which is what sysmasterd loads through and whose
  diagnostics it logs one by one at load (so these entries are the daemon's own warnings);
- unit types: sysmasterd.units.TYPES, the table the manager picks implementations from;
- conditions: sysmasterd.core.conditions.evaluate_one(), which marks kinds it cannot evaluate;
- settings compat keeps in ExecContext/CGroupContext.unsupported without a warning.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from compat import unitname
from compat.config import TYPE_SECTION, sections_for
from compat.loader import LoadedUnit, UnitLoader
from compat.model import Condition, ConditionKind, Diagnostic, Severity, UnitConfig, UnitKind
from compat.syntax import Assignment, decode, parse
from sysmasterd.core.conditions import evaluate_one
from sysmasterd.migrate.model import Entry, FileReport, Source
from sysmasterd.units import TYPES

# What `systemd-analyze verify` instantiates templates with; a template is checked through it.
TEMPLATE_INSTANCE = "test-instance"
_REFUSED_STATES = ("bad-setting", "error")


def kind_supported(kind: UnitKind) -> bool:
    """Whether the manager has an implementation for the type (not the inert Unsupported one)."""
    return kind in TYPES


class ConditionProbe:
    """Which condition kinds the manager can evaluate, asked of its evaluator once per kind."""

    def __init__(self) -> None:
        self._known: dict[str, bool] = {}

    def known(self, condition: Condition) -> bool:
        if condition.name not in self._known:
            # The evaluator only reads host state (a stat, /proc, systemd-detect-virt): harmless.
            self._known[condition.name] = evaluate_one(condition, {}).known
        return self._known[condition.name]


@dataclass
class _Lines:
    """The assignments of a unit's files, to find the directive behind a line number."""

    by_line: dict[tuple[str, int], Assignment]
    by_key: dict[tuple[str, str], list[Assignment]]

    @classmethod
    def read(cls, loader: UnitLoader, files: Iterable[str], kind: UnitKind, cache: dict[str, list[Assignment]]
             ) -> _Lines:
        by_line: dict[tuple[str, int], Assignment] = {}
        by_key: dict[tuple[str, str], list[Assignment]] = defaultdict(list)
        for path in files:
            assignments = cache.get(path)
            if assignments is None:
                assignments = cache[path] = _parse(loader, path, kind)
            for a in assignments:
                by_line[a.path, a.line] = a
                by_key[a.section, a.key].append(a)
        return cls(by_line, by_key)


def _parse(loader: UnitLoader, path: str, kind: UnitKind) -> list[Assignment]:
    try:
        with open(loader.map.real_path(path), "rb") as f:
            data = f.read()
    except OSError:
        return []  # the loader already reported it
    return parse(decode(data), path, sections_for(kind)).assignments


def _unsupported_keys(config: UnitConfig | None) -> set[str]:
    if config is None:
        return set()
    return set(config.exec.unsupported) | set(config.cgroup.unsupported)


def _load_entry(unit: LoadedUnit, d: Diagnostic, lines: _Lines, unsupported: set[str], last_error: bool) -> Entry:
    assignment = lines.by_line.get((d.path, d.line))
    if assignment is not None and assignment.key in unsupported:
        return Entry(d.path, d.line, d.message,
                     "ignored: the unit runs without this setting (systemd would apply it)",
                     Source.LOAD, d.severity.value)
    if last_error and not unit.loaded:
        instead = f"the unit is not loaded (LoadState={unit.load_state}), as under systemd"
    elif d.severity is Severity.ERROR:
        instead = "the line is not applied, as under systemd"
    else:
        instead = "as under systemd: the setting is ignored or corrected as the message says"
    return Entry(d.path, d.line, d.message, instead, Source.LOAD, d.severity.value, same_as_systemd=True)


def _report_name(unit: LoadedUnit, template: bool) -> str:
    parsed = unitname.parse(unit.name)
    return parsed.template if template and parsed is not None and parsed.is_instance else unit.name


class UnitScanner:
    def __init__(self, loader: UnitLoader) -> None:
        self.loader = loader
        self.probe = ConditionProbe()
        self._parsed: dict[str, list[Assignment]] = {}

    def scan(self) -> list[FileReport]:
        """Every unit of the search path once (aliases fold into their unit), templates through an
        instance, in name order."""
        reports: dict[str, FileReport] = {}
        for name in self.loader.all_names():
            parsed = unitname.parse(name)
            if parsed is None:
                continue
            load_name = unitname.try_instantiate(name, TEMPLATE_INSTANCE) if parsed.is_template else name
            if load_name is None:
                continue
            try:
                unit = self.loader.load(load_name)
            except Exception as e:  # compat promises not to raise; the daemon survives a bug there, so do we
                reports[load_name] = FileReport(name, "")
                reports[load_name].refuse(f"internal error: {e}")
                continue
            if unit.name not in reports:
                reports[unit.name] = self.scan_unit(unit, template=parsed.is_template)
        return sorted(reports.values(), key=lambda r: r.name)

    def scan_unit(self, unit: LoadedUnit, *, template: bool = False) -> FileReport:
        report = FileReport(_report_name(unit, template), unit.fragment_path or "")
        if unit.load_state in ("masked", "not-found"):
            report.detail = unit.load_state
            return report
        assert unit.kind is not None  # a valid name always has a type
        files = [p for p in (unit.fragment_path, *unit.dropin_paths) if p]
        lines = _Lines.read(self.loader, files, unit.kind, self._parsed)
        unsupported = _unsupported_keys(unit.config)
        errors = [i for i, d in enumerate(unit.diagnostics) if d.severity is Severity.ERROR]
        for i, d in enumerate(unit.diagnostics):
            report.add(_load_entry(unit, d, lines, unsupported, bool(errors) and i == errors[-1]))
        if unit.load_state in _REFUSED_STATES:
            report.refuse(f"LoadState={unit.load_state}: {unit.load_error}")
            return report
        if unit.config is None:
            return report
        if not kind_supported(unit.kind):
            self._unit_type(report, unit.config, lines)
        self._conditions(report, unit.config, lines)
        self._silent(report, unit.config, lines)
        order = {path: i for i, path in enumerate(files)}
        report.entries.sort(key=lambda e: (order.get(e.path, len(order)), e.line))
        return report

    def _unit_type(self, report: FileReport, config: UnitConfig, lines: _Lines) -> None:
        kind = config.kind
        report.add(Entry(report.path, 0, f"unit type '{kind.value}' is not supported yet",
                         "the unit loads and can be queried, but starting it fails", Source.UNIT_TYPE))
        report.refuse(f"unit type '{kind.value}' is not supported yet")
        section = TYPE_SECTION.get(kind)
        for (sec, key), assignments in lines.by_key.items():
            if sec != section or key not in config.raw_type_section:
                continue  # an unknown key already has its load warning
            for a in assignments:
                report.add(Entry(a.path, a.line, f"{key}= in [{section}] is not read",
                                 f"no effect: {kind.value} units are not supported yet", Source.TYPE_SECTION))

    def _conditions(self, report: FileReport, config: UnitConfig, lines: _Lines) -> None:
        for c in config.unit.conditions:
            if self.probe.known(c):
                continue
            key = c.kind.value + c.name
            verb = "the unit starts" if c.kind is ConditionKind.CONDITION else "the assertion passes"
            for a in lines.by_key.get(("Unit", key), []):
                if a.value:
                    report.add(Entry(a.path, a.line, f"{key}= cannot be evaluated by sysmaster-py",
                                     f"treated as met: {verb} whatever the host", Source.CONDITION))

    def _silent(self, report: FileReport, config: UnitConfig, lines: _Lines) -> None:
        """Settings kept as unsupported without a load warning (e.g. StandardInput=fd:NAME)."""
        warned = {(e.path, e.line) for e in report.entries}
        section = TYPE_SECTION.get(config.kind) or ""
        stored = {**config.cgroup.unsupported, **config.exec.unsupported}
        for key in sorted(stored):
            for a in lines.by_key.get((section, key), []):
                if a.value and a.value == stored[key] and (a.path, a.line) not in warned:
                    report.add(Entry(a.path, a.line, f"{key}={a.value} is accepted but not applied",
                                     "no effect: sysmaster-py does not implement it", Source.NOT_APPLIED))
