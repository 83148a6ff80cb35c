"""udev rules files -> report entries, from the code devmaster loads and runs them with.

- load diagnostics: udev_rules_translator.load_rules(), the same call devmaster's rules loader
  makes (it logs every diagnostic at load);
- keys and builtins: devmaster's table of gaps (sysmasterd.devmaster.gaps), which its executor
  and builtins log from, and the builtin registry devmaster dispatches through.
"""

from __future__ import annotations

from collections.abc import Sequence

from sysmasterd.devmaster.builtin.registry import NAMES as BUILTIN_NAMES
from sysmasterd.devmaster.gaps import NOOP_BUILTINS, NOT_APPLIED_TOKENS
from sysmasterd.migrate.model import Entry, FileReport, Source
from udev_rules_translator import (
    DEFAULT_DIRS,
    Builtin,
    Diagnostic,
    LoadedRules,
    ResolveNames,
    Severity,
    Token,
    load_rules,
)
from udev_rules_translator.files import list_rules_files
from udev_rules_translator.render import token_source

__all__ = ["DEFAULT_DIRS", "RESOLVE_NAMES", "scan_rules"]
RESOLVE_NAMES = tuple(m.value for m in ResolveNames)


def _load_entry(d: Diagnostic, file_loaded: bool) -> Entry:
    if d.line == 0 and not file_loaded:
        instead = "the file is not loaded, as under udevd"
    elif d.severity is Severity.ERROR:
        instead = "the line is dropped, as udevd drops it"
    else:
        instead = "as under udevd: the key is ignored or corrected as the message says"
    return Entry(d.path, d.line, d.message, instead, Source.LOAD, d.severity.label, same_as_systemd=True)


def _builtin_gap(builtin: Builtin) -> str | None:
    if builtin.value not in BUILTIN_NAMES:
        return "not implemented by devmaster: the builtin fails and its IMPORT does not match"
    return NOOP_BUILTINS.get(builtin)


def _token_entry(path: str, line: int, token: Token) -> Entry | None:
    gap = NOT_APPLIED_TOKENS.get(token.type)
    if gap is not None:
        return Entry(path, line, f"{token_source(token)} is not applied", gap, Source.RULES_KEY)
    if token.builtin is not None:
        gap = _builtin_gap(token.builtin)
        if gap is not None:
            return Entry(path, line, f"builtin '{token.builtin.value}' ({token_source(token)})", gap, Source.BUILTIN)
    return None


def scan_rules(dirs: Sequence[str], resolve_names: str = ResolveNames.EARLY.value) -> list[FileReport]:
    """One report per rules file that udevd would read from `dirs` (an earlier directory wins for
    a name), in load order. No cache: the report must see the files as they are."""
    loaded: LoadedRules = load_rules(dirs, cache_path=None, resolve_names=ResolveNames(resolve_names))
    reports: dict[str, FileReport] = {}
    for f in list_rules_files(dirs):
        reports[f.path] = FileReport(f.path, f.path, detail="masked" if f.empty else "")
    with_rules = {rule.filename for rule in loaded.rules.lines}
    for d in loaded.diagnostics:
        report = reports.setdefault(d.path, FileReport(d.path, d.path))
        report.add(_load_entry(d, d.path in with_rules))
        if d.line == 0 and d.path not in with_rules:
            report.refuse(d.message)
    for rule in loaded.rules.lines:
        for token in rule.tokens:
            entry = _token_entry(rule.filename, rule.line_number, token)
            if entry is not None:
                reports.setdefault(rule.filename, FileReport(rule.filename, rule.filename)).add(entry)
    return list(reports.values())
