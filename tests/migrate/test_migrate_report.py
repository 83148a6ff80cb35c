"""sysmaster-migrate report: what it finds, its output forms and exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from migrate_helpers import RULES_CORPUS, UNIT_CORPUS, corpus_rules, corpus_units, run_json, run_report

from compat import directives
from compat.model import Condition, ConditionKind, UnitKind
from sysmasterd.core.conditions import evaluate_one
from sysmasterd.migrate.cli import main

HOST_RULES = Path("/lib/udev/rules.d")
ENTRY_KEYS = {"path": str, "line": int, "what": str, "instead": str, "source": str, "severity": str,
              "same_as_systemd": bool}
STATUSES = {"supported", "warnings", "unsupported"}
SOURCES = {"load", "unit-type", "type-section", "condition", "not-applied", "rules-key", "builtin"}


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _clean_tree(tmp_path: Path) -> tuple[Path, Path]:
    units = tmp_path / "units"
    rules = tmp_path / "rules"
    _write(units / "plain.service", "[Unit]\nDescription=plain\n[Service]\nExecStart=/bin/true\n")
    _write(units / "plain.target", "[Unit]\nDescription=a target\n")
    _write(rules / "10-plain.rules", 'SUBSYSTEM=="block", ENV{PLAIN}="1"\n')
    return units, rules


def _file(doc: dict[str, Any], part: str, name: str) -> dict[str, Any]:
    return next(f for f in doc[part]["files"] if f["name"] == name or f["path"].endswith("/" + name))


def _entries(doc: dict[str, Any], part: str, name: str) -> list[tuple[int, str, str]]:
    return [(e["line"], e["source"], e["what"]) for e in _file(doc, part, name)["entries"]]


def _check_schema(doc: dict[str, Any]) -> None:
    assert doc["version"] == 1 and isinstance(doc["clean"], bool)
    parts = [p for p in ("units", "rules") if p in doc]  # --no-units/--no-rules leave one out
    assert parts
    for part in parts:
        section = doc[part]
        assert isinstance(section["scanned"], list)
        assert set(section["summary"]) == STATUSES
        files = section["files"]
        assert sum(section["summary"].values()) == len(files)
        for status in STATUSES:
            assert section["summary"][status] == sum(f["status"] == status for f in files)
        for f in files:
            assert set(f) == {"name", "path", "status", "detail", "entries"}
            assert f["status"] in STATUSES
            assert (f["status"] == "supported") == (not f["entries"] and f["status"] != "unsupported")
            for e in f["entries"]:
                assert {k: type(e[k]) for k in ENTRY_KEYS} == ENTRY_KEYS
                assert e["source"] in SOURCES and e["line"] >= 0 and e["path"].startswith("/")
    assert doc["clean"] == all(f["status"] == "supported" for p in parts for f in doc[p]["files"])


# -- exit codes and output forms ---------------------------------------------------------------


def test_clean_tree_exits_0(tmp_path: Path) -> None:
    units, rules = _clean_tree(tmp_path)
    rc, text = run_report("--unit-path", str(units), "--rules-dir", str(rules))
    assert rc == 0, text
    assert "Units: 2 units fully supported, 0 with warnings, 0 unsupported" in text
    assert "Rules: 1 rules files fully supported, 0 with warnings, 0 unsupported" in text


def test_findings_exit_1_with_file_and_line(tmp_path: Path) -> None:
    units, rules = _clean_tree(tmp_path)
    _write(units / "plain.service", "[Service]\nExecStart=/bin/true\nTTYReset=yes\n")
    rc, text = run_report("--unit-path", str(units), "--rules-dir", str(rules))
    assert rc == 1
    assert (f"{units}/plain.service:3: TTYReset= is not supported by sysmaster yet, ignoring. — "
            "ignored: the unit runs without this setting (systemd would apply it)") in text
    assert "Units: 1 units fully supported, 1 with warnings, 0 unsupported" in text


def test_json_schema(tmp_path: Path) -> None:
    units, rules = _clean_tree(tmp_path)
    _write(units / "s.socket", "[Socket]\nListenStream=/run/x.sock\n")
    _write(rules / "20-label.rules", 'KERNEL=="sda", SECLABEL{selinux}="x"\n')
    rc, doc = run_json("--unit-path", str(units), "--rules-dir", str(rules))
    assert rc == 1 and doc["clean"] is False
    _check_schema(doc)
    assert doc["units"]["scanned"] == [str(units)]
    assert doc["rules"]["scanned"] == [str(rules)]


@pytest.mark.parametrize("argv", [[], ["frobnicate"], ["report", "--bogus"], ["report", "--no-units", "--no-rules"],
                                  ["report", "--system", "--user"], ["report", "--root", "/nonexistent-root"]])
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_console_script(tmp_path: Path) -> None:
    units, rules = _clean_tree(tmp_path)
    script = Path(sys.executable).with_name("sysmaster-migrate")
    if not script.exists():
        pytest.skip("console script not installed (pip install -e .)")
    ok = subprocess.run([str(script), "report", "--unit-path", str(units), "--rules-dir", str(rules)],
                        capture_output=True, text=True, timeout=30)
    assert ok.returncode == 0, ok.stderr
    bad = subprocess.run([str(script)], capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2 and "usage:" in bad.stderr


def test_without_devmaster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                           capsys: pytest.CaptureFixture[str]) -> None:
    """The rpm ships this command with the service manager, the rules half with devmaster."""
    import sysmasterd.migrate

    monkeypatch.setitem(sys.modules, "sysmasterd.migrate.rules", None)
    monkeypatch.delattr(sysmasterd.migrate, "rules", raising=False)
    units, rules = _clean_tree(tmp_path)
    rc, doc = run_json("--unit-path", str(units))
    assert rc == 0 and "rules" not in doc and doc["units"]["summary"]["supported"] == 2
    assert "udev rules not checked" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["report", "--rules-dir", str(rules)])
    assert e.value.code == 2


# -- what is found ----------------------------------------------------------------------------


def _unevaluable_condition() -> str:
    """A Condition*= kind the manager cannot evaluate yet (asked of it: the list shrinks as the
    manager learns more kinds)."""
    for key in sorted(directives.SECTIONS["Unit"]):
        if key.startswith("Condition"):
            name = key.removeprefix("Condition")
            if not evaluate_one(Condition(ConditionKind.CONDITION, name, "1"), {}).known:
                return key
    pytest.skip("the manager evaluates every condition kind")


# A unit of each type not implemented yet, its type section's settings on lines 4 and 5.
_TYPE_SAMPLES = {
    UnitKind.SWAP: ("dev-x.swap", "[Unit]\nDescription=s\n[Swap]\nWhat=/dev/x\nPriority=5\n"),
    UnitKind.AUTOMOUNT: ("x.automount", "[Unit]\nDescription=s\n[Automount]\nWhere=/x\nTimeoutIdleSec=5\n"),
}


def _unsupported_sample() -> tuple[str, str] | None:
    from sysmasterd.units import TYPES

    return next((sample for kind, sample in _TYPE_SAMPLES.items() if kind not in TYPES), None)


def test_unit_findings(tmp_path: Path) -> None:
    units = tmp_path / "units"
    condition = _unevaluable_condition()
    _write(units / "cond.service", f"[Unit]\n{condition}=1\nConditionPathExists=/\n"
                                   "[Service]\nExecStart=/bin/true\nStandardInput=fd:foo\n")
    unsupported = _unsupported_sample()
    if unsupported is not None:
        _write(units / unsupported[0], unsupported[1])
    _write(units / "dropped.service", "[Service]\nExecStart=/bin/true\n")
    _write(units / "dropped.service.d/10-x.conf", "[Service]\nTTYReset=yes\nFrobnicate=1\n")
    _write(units / "t@.service", "[Service]\nExecStart=/bin/echo %i\nTTYVHangup=yes\n")
    _write(units / "bad.service", "[Service]\nType=simple\n")
    (units / "masked.service").symlink_to("/dev/null")
    rc, doc = run_json("--unit-path", str(units), "--no-rules")
    assert rc == 1
    _check_schema(doc)
    assert _entries(doc, "units", "cond.service") == [
        (2, "condition", f"{condition}= cannot be evaluated by sysmaster-py"),
        (6, "not-applied", "StandardInput=fd:foo is accepted but not applied"),
    ]
    if unsupported is not None:
        name = unsupported[0]
        found = _file(doc, "units", name)
        assert found["status"] == "unsupported" and name.rsplit(".", 1)[1] in found["detail"]
        assert [(line, source) for line, source, _ in _entries(doc, "units", name)] == [
            (0, "unit-type"), (4, "type-section"), (5, "type-section")]
    dropin = str(units / "dropped.service.d/10-x.conf")
    entries = _file(doc, "units", "dropped.service")["entries"]
    assert [(e["path"], e["line"], e["same_as_systemd"]) for e in entries] == [(dropin, 2, False), (dropin, 3, True)]
    template = _file(doc, "units", "t@.service")
    assert template["status"] == "warnings" and template["entries"][0]["line"] == 3
    bad = _file(doc, "units", "bad.service")
    assert bad["status"] == "unsupported" and "bad-setting" in bad["detail"]
    masked = _file(doc, "units", "masked.service")
    assert masked["status"] == "supported" and masked["detail"] == "masked"


def test_rules_findings(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    _write(rules / "10-gaps.rules", 'KERNEL=="sda", SECLABEL{selinux}="system_u"\n'
                                     'SUBSYSTEM=="input", RUN{builtin}+="uaccess"\n'
                                     'SUBSYSTEM=="block", IMPORT{builtin}="blkid"\n'
                                     'BOGUS=="x"\n')
    rc, doc = run_json("--no-units", "--rules-dir", str(rules))
    assert rc == 1
    _check_schema(doc)
    found = _entries(doc, "rules", "10-gaps.rules")
    assert (1, "rules-key", 'SECLABEL{selinux}="system_u" is not applied') in found
    assert (2, "builtin", "builtin 'uaccess' (RUN{builtin}+=\"uaccess\")") in found
    assert not any(line == 3 for line, _, _ in found)  # blkid is implemented
    assert any(line == 4 and source == "load" for line, source, _ in found)


def test_root_option(tmp_path: Path) -> None:
    root = tmp_path / "root"
    _write(root / "etc/systemd/system/x.service", "[Service]\nExecStart=/bin/true\nTTYVHangup=yes\n")
    _write(root / "etc/udev/rules.d/10-x.rules", 'KERNEL=="sda", SECLABEL{smack}="x"\n')
    rc, doc = run_json("--system", "--root", str(root))
    assert rc == 1
    assert all(d.startswith(str(root)) for d in doc["units"]["scanned"] + doc["rules"]["scanned"])
    assert [f["name"] for f in doc["units"]["files"]] == ["x.service"]
    assert _entries(doc, "units", "x.service")[0][:2] == (3, "load")
    assert _entries(doc, "rules", "10-x.rules")[0][:2] == (1, "rules-key")


# -- the host and the fuzz corpora --------------------------------------------------------------


def test_host_units_and_rules() -> None:
    """The machine's own units (every search path) and rules: a sane report."""
    rc, doc = run_json()
    _check_schema(doc)
    assert rc == (0 if doc["clean"] else 1)
    units = doc["units"]
    assert "/lib/systemd/system" in units["scanned"] or "/usr/lib/systemd/system" in units["scanned"]
    assert len(units["files"]) > 50
    assert units["summary"]["supported"] > 0
    # Debian ships timers and sockets; nothing the host ships is refused for its settings.
    kinds = {f["name"].rsplit(".", 1)[-1] for f in units["files"] if f["status"] == "unsupported"}
    assert kinds <= {"socket", "timer", "path", "mount", "automount", "swap", "scope"}
    if HOST_RULES.is_dir():
        assert len(doc["rules"]["files"]) > 10
    rc_text, text = run_report()
    assert rc_text == rc
    assert "units fully supported" in text and "rules files fully supported" in text


@pytest.mark.skipif(not UNIT_CORPUS.is_dir(), reason="fuzz corpus not available")
def test_fuzz_unit_corpus(tmp_path: Path) -> None:
    names = corpus_units(tmp_path)
    rc, doc = run_json("--system", "--unit-path", str(tmp_path), "--no-rules")
    assert rc == 1
    _check_schema(doc)
    files = doc["units"]["files"]
    assert len(files) >= len(names) // 2  # aliases and not-loadable names fold together
    assert all(e["path"].startswith(str(tmp_path)) for f in files for e in f["entries"])
    by_source = {e["source"] for f in files for e in f["entries"]}
    from sysmasterd.units import TYPES

    # Every unit type is implemented now: only load diagnostics are left to find in the corpus.
    expected = {"load"} | ({"unit-type", "type-section"} if set(UnitKind) - set(TYPES) else set())
    assert expected <= by_source
    refused = [f for f in files if f["status"] == "unsupported" and "LoadState" in f["detail"]]
    assert refused and all(f["entries"] for f in refused)


@pytest.mark.skipif(not RULES_CORPUS.is_dir(), reason="fuzz corpus not available")
def test_fuzz_rules_corpus(tmp_path: Path) -> None:
    names = corpus_rules(tmp_path)
    rc, doc = run_json("--no-units", "--rules-dir", str(tmp_path))
    assert rc == 1
    _check_schema(doc)
    assert sorted(Path(f["path"]).name for f in doc["rules"]["files"]) == sorted(names)
    too_long = _file(doc, "rules", "line-too-long.rules")
    assert too_long["entries"] and all(e["line"] >= 1 for e in too_long["entries"])
