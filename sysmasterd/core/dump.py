"""The manager's state as text: `sysmasterd --test --dump` and the bus's Dump methods
(`systemd-analyze dump [PATTERN...]`), laid out as systemd's manager_dump(): without patterns a
manager header, then the units and the jobs, with patterns only the units and jobs whose unit id
matches one (fnmatch, no escapes)."""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sysmasterd.core.dependency import Dep

if TYPE_CHECKING:
    from sysmasterd.core.manager import Manager

_SHOWN = (Dep.REQUIRES, Dep.REQUISITE, Dep.WANTS, Dep.BINDS_TO, Dep.PART_OF, Dep.CONFLICTS, Dep.BEFORE,
          Dep.AFTER, Dep.ON_FAILURE, Dep.WANTED_BY, Dep.REQUIRED_BY)


def _matches(name: str, patterns: Sequence[str]) -> bool:
    return not patterns or any(fnmatch.fnmatchcase(name, p) for p in patterns)


def dump_manager(m: Manager, patterns: Sequence[str] | None, header: str) -> str:
    """systemd's manager_dump(): with `patterns` None, everything after `header` (the manager's
    name, version and features)."""
    jobs: list[str] = []
    for job in sorted(m.engine.jobs.values(), key=lambda j: j.id):
        if _matches(job.unit.id, patterns or ()):
            jobs += [f"-> Job {job.id}:", f"\tAction: {job.unit.id} -> {job.type.value}",
                     f"\tState: {job.state.value}", f"\tIrreversible: {'yes' if job.irreversible else 'no'}"]
    return (header if patterns is None else "") + dump_units(m, patterns or ()) + "".join(line + "\n" for line in jobs)


def dump_units(m: Manager, patterns: Sequence[str] = ()) -> str:
    out: list[str] = []
    for uid, u in sorted(m.units_by_id().items()):
        if not _matches(uid, patterns):
            continue
        out.append(f"-> Unit {uid}:")
        out.append(f"\tDescription: {u.description}")
        out.append(f"\tLoad State: {u.load_state.value}")
        if u.load_error:
            out.append(f"\tLoad Error: {u.load_error}")
        out.append(f"\tActive State: {u.active_state.value}")
        if u.fragment_path:
            out.append(f"\tFragment Path: {u.fragment_path}")
        for p in u.dropin_paths:
            out.append(f"\tDropIn Path: {p}")
        for name in sorted(u.names - {uid}):
            out.append(f"\tName: {name}")
        for dep in _SHOWN:
            for other in sorted(u.deps.get(dep, ())):
                out.append(f"\t{dep.value}: {other}")
    if not patterns:
        out.append(f"{len(m.units_by_id())} units loaded.")
    return "\n".join(out) + "\n"
