"""Rows of ListUnits*/ListJobs, and the name/state filters systemctl sends."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sysmasterd.bus.paths import unit_path
from sysmasterd.core.dependency import Dep
from sysmasterd.core.job import compare

if TYPE_CHECKING:
    from sysmasterd.core.job import Job
    from sysmasterd.core.unit import Unit


def unit_row(u: Unit) -> list[Any]:
    """(ssssssouso): name, description, load, active, sub, following, path, job id, job type, job path.

    The hot path of ListUnits (thousands of rows per call): enum values are read as `_value_`,
    a plain attribute, where `.value` goes through a descriptor at several times the cost.
    """
    job = u.job
    return [
        u.id,
        u.description,
        u.load_state._value_,
        u.active_state._value_,
        u.sub_state,
        following.id if u.impl is not None and (following := u.impl.following()) is not None else "",
        unit_path(u.id),
        job.id if job is not None else 0,
        job.type._value_ if job is not None else "",
        job.path if job is not None else "/",
    ]


def job_row(job: Job) -> list[Any]:
    """(usssoo): id, unit, type, state, job path, unit path."""
    return [job.id, job.unit.id, job.type.value, job.state.value, job.path, unit_path(job.unit.id)]


def matches(u: Unit, states: Iterable[str], patterns: Iterable[str]) -> bool:
    states = list(states)
    if states and not {u.load_state.value, u.active_state.value, u.sub_state} & set(states):
        return False
    patterns = list(patterns)
    return not patterns or any(fnmatch.fnmatchcase(n, p) for p in patterns for n in u.names)


def _ordered_neighbours(job: Job) -> list[tuple[Job, bool]]:
    """Jobs of units this job's unit is ordered against, with whether ours is After= them."""
    out: list[tuple[Job, bool]] = []
    for dep, after in ((Dep.AFTER, True), (Dep.BEFORE, False)):
        for other in job.unit.dep_units(dep):
            if other.job is not None and other.job is not job:
                out.append((other.job, after))
    return out


def waiting_for(job: Job) -> list[Job]:
    """Jobs that must finish before this one may run (GetJobAfter / `list-jobs --after`)."""
    return [other for other, after in _ordered_neighbours(job) if compare(job, other, after) > 0]


def blocked_by(job: Job) -> list[Job]:
    """Jobs that wait for this one (GetJobBefore / `list-jobs --before`)."""
    return [other for other, after in _ordered_neighbours(job) if compare(job, other, after) < 0]
