"""Transactions: from one requested job, the consistent set of jobs to install (systemd's transaction.c).

Built in steps: pull in dependencies, merge jobs per unit, drop redundant jobs, break ordering
cycles on jobs that don't matter to the anchor, check against installed jobs, then hand the
result to the manager to install. Nothing in the manager changes until every check passed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from compat.model import JobMode
from sysmasterd.core import errors
from sysmasterd.core.dependency import PROPAGATE_RESTART, PROPAGATE_STOP, PULL_IN_START, Dep
from sysmasterd.core.job import collapse, is_redundant, merge
from sysmasterd.core.states import JobType, LoadState

if TYPE_CHECKING:
    from sysmasterd.core.manager import Manager
    from sysmasterd.core.unit import Unit


@dataclass
class TJob:
    """A job while it is only planned."""

    unit: Unit
    type: JobType
    matters: bool  # pulled in by requirement from the anchor: its failure fails the transaction
    anchor: bool = False
    pulled_by: set[str] = field(default_factory=set)  # units whose jobs pulled this one


class Transaction:
    def __init__(self, manager: Manager, mode: JobMode) -> None:
        self.manager = manager
        self.mode = mode
        self.jobs: dict[str, list[TJob]] = {}
        self.anchor: TJob | None = None
        self.ignore_order = mode is JobMode.IGNORE_DEPENDENCIES
        self.ignore_requirements = mode in (JobMode.IGNORE_DEPENDENCIES, JobMode.IGNORE_REQUIREMENTS)

    # -- building -------------------------------------------------------------------------------

    def add(self, unit: Unit, job_type: JobType, by: TJob | None, matters: bool,
            conflicts: bool = False) -> TJob:
        """Add a job and, recursively, what it pulls in. Raises ManagerError for a bad unit."""
        if job_type is not JobType.STOP:
            unit.check_loaded_for_job()
        job_type = collapse(job_type, unit.active_state)
        if unit.perpetual and job_type in (JobType.STOP, JobType.RESTART):
            raise errors.JobTypeNotApplicable(f"Job type {job_type.value} is not applicable for unit {unit.id}.")
        if job_type is JobType.RELOAD and not unit.can_reload():
            raise errors.JobTypeNotApplicable(f"Job type reload is not applicable for unit {unit.id}.")
        for existing in self.jobs.get(unit.id, []):
            if existing.type is job_type:
                existing.matters = existing.matters or matters
                if by is not None:
                    existing.pulled_by.add(by.unit.id)
                return existing
        tj = TJob(unit, job_type, matters)
        if by is not None:
            tj.pulled_by.add(by.unit.id)
        else:
            tj.anchor = True
            self.anchor = tj
        self.jobs.setdefault(unit.id, []).append(tj)
        if self.ignore_requirements:
            return tj
        if job_type in (JobType.START, JobType.RESTART):
            for dep, fatal in PULL_IN_START:
                for other in unit.dep_units(dep):
                    self._add_dep(other, JobType.START, tj, matters and fatal, fatal)
            for other in unit.dep_units(Dep.REQUISITE):
                self._add_dep(other, JobType.VERIFY_ACTIVE, tj, matters, True)
            for other in unit.dep_units(Dep.CONFLICTS):
                self._add_dep(other, JobType.STOP, tj, matters, True)
            for other in unit.dep_units(Dep.CONFLICTED_BY):
                self._add_dep(other, JobType.STOP, tj, False, False)
        if job_type in (JobType.STOP, JobType.RESTART):
            ptype = JobType.TRY_RESTART if job_type is JobType.RESTART else JobType.STOP
            deps = PROPAGATE_RESTART if job_type is JobType.RESTART else PROPAGATE_STOP
            for dep in deps:
                for other in unit.dep_units(dep):
                    self._add_dep(other, ptype, tj, matters, True)
        if job_type is JobType.RELOAD:
            for other in unit.dep_units(Dep.PROPAGATES_RELOAD_TO):
                self._add_dep(other, JobType.TRY_RELOAD, tj, False, False)
        return tj

    def _add_dep(self, unit: Unit, job_type: JobType, by: TJob, matters: bool, fatal: bool) -> None:
        try:
            self.add(unit, job_type, by, matters)
        except errors.JobTypeNotApplicable:
            pass
        except errors.ManagerError:
            if fatal and matters:
                raise
            self.manager.log.debug("Ignoring %s job for %s pulled in by %s", job_type.value, unit.id,
                                   by.unit.id)

    def add_isolate_jobs(self) -> None:
        for unit in list(self.manager.units_by_id().values()):
            if unit.id in self.jobs or unit.ignore_on_isolate():
                continue
            if unit.active_state.is_inactive_or_failed():
                continue
            try:
                self.add(unit, JobType.STOP, self.anchor, False)
            except errors.ManagerError as e:  # e.g. a perpetual unit: it stays, as in systemd
                self.manager.log.warning("%s: Cannot add isolate job, ignoring: %s", unit.id, e.message)

    # -- checking -------------------------------------------------------------------------------

    def _merge_jobs(self) -> None:
        for unit_id, tjobs in list(self.jobs.items()):
            while len(tjobs) > 1:
                a, b = tjobs[0], tjobs[1]
                t = merge(a.type, b.type)
                if t is None:
                    loser = self._conflict_loser(a, b)
                    tjobs.remove(loser)
                    self._delete_pulled()
                    continue
                a.type = collapse(t, a.unit.active_state)
                a.matters = a.matters or b.matters
                a.anchor = a.anchor or b.anchor
                a.pulled_by |= b.pulled_by
                if b is self.anchor:
                    self.anchor = a
                tjobs.remove(b)
            if not tjobs:
                del self.jobs[unit_id]

    def _conflict_loser(self, a: TJob, b: TJob) -> TJob:
        for x, y in ((a, b), (b, a)):
            if not x.matters and not x.anchor:
                return x
            if not y.matters and not y.anchor:
                return y
        raise errors.TransactionJobsConflicting(
            f"Transaction contains conflicting jobs '{a.type.value}' and '{b.type.value}' for "
            f"{a.unit.id}. Probably contradicting requirement dependencies configured.")

    def _delete_pulled(self) -> None:
        """Remove jobs that no longer have anything pulling them in (garbage collection)."""
        changed = True
        while changed:
            changed = False
            live = {u for u, js in self.jobs.items() if js}
            for unit_id, tjobs in list(self.jobs.items()):
                for tj in list(tjobs):
                    if tj.anchor or not tj.pulled_by:
                        continue
                    tj.pulled_by &= live
                    if not tj.pulled_by:
                        tjobs.remove(tj)
                        changed = True
                if not tjobs:
                    del self.jobs[unit_id]

    def _drop_redundant(self) -> None:
        for unit_id, tjobs in list(self.jobs.items()):
            tj = tjobs[0]
            if tj.anchor:
                continue
            if is_redundant(tj.type, tj.unit.active_state) and tj.unit.job is None:
                del self.jobs[unit_id]

    def _verify_order(self) -> None:
        """Find ordering cycles among the planned jobs; delete a non-essential job to break each."""
        while True:
            cycle = self._find_cycle()
            if cycle is None:
                return
            log = self.manager.log
            first = self.jobs[cycle[0]][0]
            log.warning("%s: Found ordering cycle on %s/%s", first.unit.id, first.unit.id, first.type.value)
            for uid in cycle[1:]:
                j = self.jobs[uid][0]
                log.warning("%s: Found dependency on %s/%s", first.unit.id, j.unit.id, j.type.value)
            victim = next((self.jobs[u][0] for u in cycle
                           if not self.jobs[u][0].matters and not self.jobs[u][0].anchor), None)
            if victim is None:
                log.error("%s: Unable to break cycle starting with %s/%s", first.unit.id, first.unit.id,
                          first.type.value)
                raise errors.TransactionOrderIsCyclic("Transaction order is cyclic. See system logs for details.")
            log.error("%s: Job %s/%s deleted to break ordering cycle starting with %s/%s", first.unit.id,
                      victim.unit.id, victim.type.value, first.unit.id, first.type.value)
            del self.jobs[victim.unit.id]
            self._delete_pulled()

    def _find_cycle(self) -> list[str] | None:
        if self.ignore_order:
            return None
        color: dict[str, int] = {}
        stack: list[str] = []

        def visit(uid: str) -> list[str] | None:
            color[uid] = 1
            stack.append(uid)
            unit = self.jobs[uid][0].unit
            # Edges follow "must run after": for start jobs, After=; stops reverse it, but a cycle
            # in one direction is a cycle in the other, so After= edges suffice for detection.
            for other in unit.dep_units(Dep.AFTER):
                if other.id not in self.jobs:
                    continue
                c = color.get(other.id, 0)
                if c == 1:
                    return stack[stack.index(other.id):]
                if c == 0:
                    found = visit(other.id)
                    if found:
                        return found
            stack.pop()
            color[uid] = 2
            return None

        for uid in list(self.jobs):
            if color.get(uid, 0) == 0:
                found = visit(uid)
                if found:
                    return found
        return None

    def _check_destructive(self) -> None:
        for tjobs in self.jobs.values():
            tj = tjobs[0]
            installed = tj.unit.job
            if installed is None:
                continue
            if merge(installed.type, tj.type) is not None:
                continue
            if self.mode is JobMode.FAIL or installed.irreversible:
                raise errors.TransactionIsDestructive(
                    f"Transaction for {self.anchor_desc()} is destructive ({tj.unit.id} has "
                    f"'{installed.type.value}' job queued, but '{tj.type.value}' is included in transaction).")

    def anchor_desc(self) -> str:
        a = self.anchor
        return f"{a.unit.id}/{a.type.value}" if a else "?"

    def finalize(self) -> list[TJob]:
        self._merge_jobs()
        self._drop_redundant()
        self._verify_order()
        self._check_destructive()
        return [tjobs[0] for tjobs in self.jobs.values()]


def unit_load_error(unit: Unit) -> errors.ManagerError | None:
    """The error a job request for this unit gets when its file did not load."""
    s = unit.load_state
    if s is LoadState.NOT_FOUND:
        return errors.NoSuchUnit(f"Unit {unit.id} not found.")
    if s is LoadState.MASKED:
        return errors.UnitMasked(f"Unit {unit.id} is masked.")
    if s is LoadState.BAD_SETTING:
        return errors.BadUnitSetting(
            f"Unit {unit.id} has a bad unit file setting.")
    if s is LoadState.ERROR:
        return errors.LoadFailed(
            f"Unit {unit.id} failed to load properly, please adjust/correct and reload service manager: "
            f"{unit.load_error or 'Invalid argument'}")
    return None
