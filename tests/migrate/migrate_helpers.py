"""Shared by the migration report tests: running the report and the daemons' own load logs."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

from sysmasterd.devmaster.rules.loader import diagnostic_text
from sysmasterd.devmaster.rules.loader import load_rules as devmaster_load_rules
from sysmasterd.migrate.cli import main
from sysmasterd.migrate.model import Source
from udev_rules_translator import Diagnostic, Severity

REPO = Path(__file__).resolve().parents[2]
CORPORA = REPO.parent / "shared" / "corpora"
UNIT_CORPUS = CORPORA / "fuzz-unit-file"
RULES_CORPUS = CORPORA / "fuzz-udev-rules"
SYSMASTERD = Path(sys.executable).with_name("sysmasterd")
# A warning of the daemon's log that names a file and line: "<asctime> /path:12: message".
_LOGGED = re.compile(r"^\S+ \S+ (/[^:]*):(\d+): (.*)$")

Finding = tuple[str, int, str]


def run_report(*argv: str) -> tuple[int, str]:
    """The report in-process (fast): exit status and stdout."""
    out = io.StringIO()
    with redirect_stdout(out):
        rc = main(["report", *argv])
    return rc, out.getvalue()


def run_json(*argv: str) -> tuple[int, dict[str, Any]]:
    rc, text = run_report(*argv, "--json")
    return rc, json.loads(text)


def _load_entries(doc: dict[str, Any], part: str) -> set[tuple[str, int, str, str]]:
    return {(e["path"], e["line"], e["what"], e["severity"]) for f in doc[part]["files"] for e in f["entries"]
            if e["source"] == Source.LOAD.value}


def load_findings(doc: dict[str, Any], part: str) -> set[Finding]:
    """The report's entries that stand for a daemon's load warning."""
    return {(path, line, what) for path, line, what, _ in _load_entries(doc, part)}


def daemon_unit_warnings(tmp: Path, *unit_path_args: str) -> set[Finding]:
    """What `sysmasterd --system --test --dump` logs, at load, about lines of unit files."""
    log = tmp / "sysmasterd.log"
    env = {k: v for k, v in os.environ.items() if k != "SYSTEMD_UNIT_PATH"}
    proc = subprocess.run([str(SYSMASTERD), "--system", "--test", "--dump", *unit_path_args,
                           "--log-target", f"file:{log}"], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    found: set[Finding] = set()
    for line in log.read_text(errors="replace").splitlines():
        m = _LOGGED.match(line)
        if m:
            found.add((m[1], int(m[2]), m[3]))
    return found


def devmaster_rules_warnings(dirs: list[str]) -> set[str]:
    """What devmaster's rules loader logs when it loads `dirs` (the call devmaster makes)."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    log = logging.getLogger("devmaster")
    handler, level = Keep(), log.level
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    try:
        devmaster_load_rules(dirs, cache_path=None)
    finally:
        log.removeHandler(handler)
        log.setLevel(level)
    trace = ("Reading rules file: ", "Skipping empty file: ")
    return {r.getMessage() for r in records if not r.getMessage().startswith(trace)}


def rules_load_messages(doc: dict[str, Any]) -> set[str]:
    """The report's rules entries from the load, as devmaster's log prints a diagnostic."""
    return {diagnostic_text(Diagnostic(path, line, Severity[severity.upper()], what))
            for path, line, what, severity in _load_entries(doc, "rules")}


def corpus_units(target: Path) -> list[str]:
    """The unit seeds as systemd's fuzzer reads them: the first line names the unit type, the rest
    is the file (seeds whose first line is not a type are left out)."""
    from compat import unitname

    names = []
    for seed in sorted(UNIT_CORPUS.iterdir()):
        kind, _, body = seed.read_bytes().partition(b"\n")
        name = f"seed-{re.sub(r'[^A-Za-z0-9-]', '-', seed.name)}.{kind.decode(errors='replace').strip()}"
        if unitname.is_valid(name):
            (target / name).write_bytes(body)
            names.append(name)
    return names


def corpus_rules(target: Path) -> list[str]:
    """The rules seeds as *.rules files (the two without the suffix get it)."""
    names = []
    for seed in sorted(RULES_CORPUS.iterdir()):
        name = seed.name if seed.name.endswith(".rules") else f"{seed.name}.rules"
        (target / name).write_bytes(seed.read_bytes())
        names.append(name)
    return names
