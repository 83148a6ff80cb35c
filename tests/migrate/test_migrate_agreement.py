"""The report says what the daemons say: its load entries are exactly the warnings sysmasterd
(`--test --dump`) and devmaster's rules loader log for the same files."""

from __future__ import annotations

from pathlib import Path

import pytest
from migrate_helpers import (
    RULES_CORPUS,
    SYSMASTERD,
    UNIT_CORPUS,
    corpus_rules,
    corpus_units,
    daemon_unit_warnings,
    devmaster_rules_warnings,
    load_findings,
    rules_load_messages,
    run_json,
)

from udev_rules_translator import DEFAULT_DIRS

HOST_UNITS = Path("/lib/systemd/system")
HOST_RULES = Path("/lib/udev/rules.d")
needs_daemon = pytest.mark.skipif(not SYSMASTERD.exists(), reason="sysmasterd console script not installed")


def _template_files(doc: dict) -> set[str]:
    """Files of templates: the report reads them through a made-up instance, the daemon only
    through the instances something refers to."""
    return {e["path"] for f in doc["units"]["files"] if "@." in f["name"] for e in f["entries"]}


def _assert_units_agree(tmp_path: Path, *unit_path: str) -> set[tuple[str, int, str]]:
    _, doc = run_json("--system", *unit_path, "--no-rules")
    reported = load_findings(doc, "units")
    logged = daemon_unit_warnings(tmp_path, *unit_path)
    templates = _template_files(doc)
    # Every warning the daemon logs is in the report, at the same file:line with the same text ...
    assert {w for w in logged if w[0] not in templates} <= reported
    assert {w[:2] for w in logged} <= {r[:2] for r in reported}
    # ... and the report claims no load warning the daemon does not log.
    assert {r for r in reported if r[0] not in templates} <= logged
    return reported


@needs_daemon
@pytest.mark.skipif(not HOST_UNITS.is_dir(), reason="no host units")
def test_host_units_agree_with_daemon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole system search path of this machine (/etc, /run, generator output, /lib ...)."""
    monkeypatch.delenv("SYSTEMD_UNIT_PATH", raising=False)
    reported = _assert_units_agree(tmp_path)
    assert reported, "Debian's units use sandboxing directives sysmaster does not support yet"


@needs_daemon
@pytest.mark.skipif(not UNIT_CORPUS.is_dir(), reason="fuzz corpus not available")
def test_fuzz_units_agree_with_daemon(tmp_path: Path) -> None:
    units = tmp_path / "units"
    units.mkdir()
    corpus_units(units)
    reported = _assert_units_agree(tmp_path, "--unit-path", str(units))
    assert any(r[0].endswith("seed-directives-service.service") for r in reported)


@pytest.mark.skipif(not HOST_RULES.is_dir(), reason="no host rules")
def test_host_rules_agree_with_devmaster() -> None:
    """udev's and devmaster's rules directories of this machine, as devmaster reads them by default."""
    _, doc = run_json("--no-units")
    assert doc["rules"]["scanned"] == list(DEFAULT_DIRS)
    assert rules_load_messages(doc) == devmaster_rules_warnings(list(DEFAULT_DIRS))


@pytest.mark.skipif(not RULES_CORPUS.is_dir(), reason="fuzz corpus not available")
def test_fuzz_rules_agree_with_devmaster(tmp_path: Path) -> None:
    corpus_rules(tmp_path)
    _, doc = run_json("--no-units", "--rules-dir", str(tmp_path))
    messages = rules_load_messages(doc)
    assert messages, "the corpus has broken lines"
    assert messages == devmaster_rules_warnings([str(tmp_path)])
