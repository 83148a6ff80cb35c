"""The report as text (for people) and JSON (for scripts)."""

from __future__ import annotations

import json
from typing import Any

from sysmasterd.migrate.model import Entry, FileReport, Report, Status

JSON_VERSION = 1


def entry_line(e: Entry) -> str:
    note = " (systemd/udevd warn the same)" if e.same_as_systemd else ""
    return f"{e.location()}: {e.what} — {e.instead}{note}"


def summary_line(files: list[FileReport], noun: str) -> str:
    c = Report.counts(files)
    return (f"{c[Status.SUPPORTED]} {noun} fully supported, {c[Status.WARNINGS]} with warnings, "
            f"{c[Status.UNSUPPORTED]} unsupported")


def _section(title: str, dirs: list[str], files: list[FileReport]) -> list[str]:
    out = [f"{title} (scanned: {', '.join(dirs) or 'nothing'})"]
    for f in files:
        if f.status is Status.SUPPORTED:
            continue
        head = f"{f.name}: {f.status.value}"
        if f.detail:
            head += f" ({f.detail})"
        out.append(head)
        out += [f"  {entry_line(e)}" for e in f.entries]
    out.append("")
    return out


def render_text(report: Report, *, units: bool = True, rules: bool = True) -> str:
    out: list[str] = []
    if units:
        out += _section("Units", report.scanned_unit_dirs, report.units)
    if rules:
        out += _section("Rules", report.scanned_rules_dirs, report.rules)
    if units:
        out.append("Units: " + summary_line(report.units, "units"))
    if rules:
        out.append("Rules: " + summary_line(report.rules, "rules files"))
    return "\n".join(out) + "\n"


def _entry_json(e: Entry) -> dict[str, Any]:
    return {"path": e.path, "line": e.line, "what": e.what, "instead": e.instead, "source": e.source.value,
            "severity": e.severity, "same_as_systemd": e.same_as_systemd}


def _files_json(dirs: list[str], files: list[FileReport]) -> dict[str, Any]:
    return {
        "scanned": dirs,
        "summary": {s.value: n for s, n in Report.counts(files).items()},
        "files": [{"name": f.name, "path": f.path, "status": f.status.value, "detail": f.detail,
                   "entries": [_entry_json(e) for e in f.entries]} for f in files],
    }


def render_json(report: Report, *, units: bool = True, rules: bool = True) -> str:
    doc: dict[str, Any] = {"version": JSON_VERSION, "clean": report.clean}
    if units:
        doc["units"] = _files_json(report.scanned_unit_dirs, report.units)
    if rules:
        doc["rules"] = _files_json(report.scanned_rules_dirs, report.rules)
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
