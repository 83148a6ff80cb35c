"""Jobs: a requested state change of one unit, queued, ordered, run, finished with a result."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from compat.model import USEC_INFINITY
from sysmasterd.core.clock import now_monotonic_usec
from sysmasterd.core.dependency import Dep
from sysmasterd.core.states import ActiveState, JobResult, JobState, JobType

if TYPE_CHECKING:
    import asyncio

    from sysmasterd.core.manager import Manager
    from sysmasterd.core.unit import Unit

_START_LIKE = (JobType.START, JobType.VERIFY_ACTIVE, JobType.RESTART, JobType.RELOAD)


def collapse(t: JobType, state: ActiveState) -> JobType:
    """Resolve the conditional job types against the unit's current state."""
    active = not state.is_inactive_or_failed()
    if t is JobType.TRY_RESTART:
        return JobType.RESTART if active else JobType.NOP
    if t is JobType.TRY_RELOAD:
        return JobType.RELOAD if active else JobType.NOP
    if t is JobType.RELOAD_OR_START:
        return JobType.RELOAD if active else JobType.START
    return t


_MERGE: dict[frozenset[JobType], JobType] = {
    frozenset({JobType.START, JobType.VERIFY_ACTIVE}): JobType.START,
    frozenset({JobType.START, JobType.RELOAD}): JobType.RELOAD_OR_START,
    frozenset({JobType.RELOAD, JobType.VERIFY_ACTIVE}): JobType.RELOAD,
    frozenset({JobType.RESTART, JobType.START}): JobType.RESTART,
    frozenset({JobType.RESTART, JobType.VERIFY_ACTIVE}): JobType.RESTART,
    frozenset({JobType.RESTART, JobType.RELOAD}): JobType.RESTART,
}


def merge(a: JobType, b: JobType) -> JobType | None:
    """The job type doing both a and b, or None when they conflict (stop vs. anything else)."""
    if a is b:
        return a
    if JobType.NOP in (a, b):
        return b if a is JobType.NOP else a
    return _MERGE.get(frozenset({a, b}))


def is_superset(a: JobType, b: JobType) -> bool:
    """Whether a running job of type a also achieves b (so b may merge into it late)."""
    return merge(a, b) is a


def is_redundant(t: JobType, state: ActiveState) -> bool:
    if t in (JobType.START, JobType.VERIFY_ACTIVE):
        return state.is_active_or_reloading()
    if t is JobType.STOP:
        return state.is_inactive_or_failed()
    return t is JobType.NOP


def compare(a: Job, b: Job, a_is_after_b: bool) -> int:
    """1 if a must wait for b, -1 if b must wait for a, 0 if unordered (systemd's job_compare).

    Stop jobs always go first; two stop jobs run in reverse of the start order.
    """
    if JobType.NOP in (a.type, b.type) or a.ignore_order or b.ignore_order:
        return 0
    if a_is_after_b:
        return -compare(b, a, False)
    # Here a is ordered Before b.
    return 1 if b.type is JobType.STOP else -1


class Job:
    def __init__(self, manager: Manager, job_id: int, unit: Unit, job_type: JobType,
                 irreversible: bool = False, ignore_order: bool = False) -> None:
        self.manager = manager
        self.id = job_id
        self.unit = unit
        self.type = job_type
        self.state = JobState.WAITING
        self.result: JobResult | None = None
        self.irreversible = irreversible
        self.ignore_order = ignore_order
        self.begin_usec = now_monotonic_usec()
        self.activation_usec = 0  # when it started running
        self.reloaded = False
        self._timer: asyncio.TimerHandle | None = None
        self.arm_timeout()

    @property
    def path(self) -> str:
        return f"/org/freedesktop/systemd1/job/{self.id}"

    def arm_timeout(self) -> None:
        cfg = self.unit.config
        if cfg is None:
            return
        timeout = cfg.unit.job_timeout_usec
        if timeout in (0, USEC_INFINITY):
            return
        self._timer = self.manager.loop.call_later(timeout / 1e6, self._timed_out)

    def disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _timed_out(self) -> None:
        self._timer = None
        self.manager.log.warning("%s: Job %s/%s timed out.", self.unit.id, self.unit.id, self.type.value)
        self.manager.engine.finish_job(self, JobResult.TIMEOUT)
        if self.unit.config is not None:
            self.manager.emergency_action(self.unit.config.unit.job_timeout_action,
                                          f"job {self.unit.id}/{self.type.value} timed out")

    def is_runnable(self) -> bool:
        """Ordering: wait while a job this one is ordered against must run first."""
        if self.type is JobType.NOP:
            return True
        for dep, after in ((Dep.AFTER, True), (Dep.BEFORE, False)):
            for other in self.unit.dep_units(dep):
                if other.job is not None and compare(self, other.job, after) > 0:
                    return False
        return True

    def serialize(self) -> dict[str, Any]:
        return {"id": self.id, "unit": self.unit.id, "type": self.type.value, "state": self.state.value,
                "irreversible": self.irreversible, "ignore_order": self.ignore_order,
                "begin_usec": self.begin_usec}
