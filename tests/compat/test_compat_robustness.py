"""Every fuzz seed and every unit of the host loads or is refused with a message: no exception, no hang."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from compat_helpers import FACTS

from compat import unitname
from compat.loader import UnitLoader
from compat.model import Scope

CORPUS = Path(__file__).resolve().parents[3] / "shared/corpora/fuzz-unit-file"
HOST_UNITS = Path("/lib/systemd/system")
STATES = {"loaded", "not-found", "bad-setting", "error", "masked"}
PER_UNIT_SECONDS = 2.0


def _corpus_units(target: Path) -> list[str]:
    """Lay the seeds out as unit files: as systemd's fuzzer reads them (first line = unit type)
    and, for seeds named like units, verbatim."""
    names = []
    for seed in sorted(CORPUS.iterdir()):
        data = seed.read_bytes()
        kind, _, body = data.partition(b"\n")
        name = f"{seed.name.replace('_', '-')}-seed.{kind.decode(errors='replace').strip()}"
        if unitname.is_valid(name):
            (target / name).write_bytes(body)
            names.append(name)
        if unitname.is_valid(seed.name):
            (target / seed.name).write_bytes(data)
            names.append(seed.name)
    return names


def _check(loader: UnitLoader, name: str) -> None:
    start = time.monotonic()
    unit = loader.load(name)
    assert time.monotonic() - start < PER_UNIT_SECONDS, f"{name} took too long"
    assert unit.load_state in STATES
    if unit.load_state in ("bad-setting", "error"):
        assert unit.load_error, name
        assert unit.diagnostics, name
    if unit.load_state == "loaded":
        assert unit.config is not None


@pytest.mark.skipif(not CORPUS.is_dir(), reason="fuzz corpus not available")
def test_fuzz_corpus(tmp_path: Path) -> None:
    names = _corpus_units(tmp_path)
    assert len(names) >= 40
    loader = UnitLoader(Scope.SYSTEM, unit_path=[str(tmp_path)], facts=FACTS)
    for name in names:
        _check(loader, name)
    states = {loader.load(n).load_state for n in names}
    assert {"loaded", "bad-setting", "error"} <= states


@pytest.mark.skipif(not HOST_UNITS.is_dir(), reason="no host units")
def test_host_units_all_load() -> None:
    loader = UnitLoader(Scope.SYSTEM, unit_path=[str(HOST_UNITS)], facts=FACTS)
    names = [n for n in loader.all_names() if not unitname.parse(n).is_template]  # type: ignore[union-attr]
    assert names
    for name in names:
        _check(loader, name)
    # Stock units are valid for systemd: none may be refused by us either.
    refused = {n: loader.load(n).load_error for n in names if loader.load(n).load_state in ("bad-setting", "error")}
    assert refused == {}


@pytest.mark.skipif(not HOST_UNITS.is_dir(), reason="no host units")
def test_host_template_instances_load() -> None:
    loader = UnitLoader(Scope.SYSTEM, unit_path=[str(HOST_UNITS)], facts=FACTS)
    for name in loader.all_names():
        parsed = unitname.parse(name)
        if parsed is not None and parsed.is_template and not os.path.islink(HOST_UNITS / name):
            _check(loader, unitname.instantiate(name, "test-instance"))
