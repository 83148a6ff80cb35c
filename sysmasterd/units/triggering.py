"""What the types that start another unit on an event share (automount, path, timer; systemd's
unit_test_trigger_loaded() and the job queueing of their *_enter_running()): the check of the unit
to trigger at start, queueing its job, and how the triggered unit's own start limit reaches them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from compat.model import JobMode
from sysmasterd.core import errors
from sysmasterd.core.states import ActiveState, JobType, LoadState
from sysmasterd.core.unittype import OpResult
from sysmasterd.units.stateful import ResultT, StatefulType, StateT

if TYPE_CHECKING:
    from sysmasterd.core.unit import Unit


def hit_start_limit(other: Unit) -> bool:
    """Whether a triggered unit failed by its start limit (the trigger then fails too)."""
    return other.active_state is ActiveState.FAILED and other.impl is not None \
        and other.impl.result() == "start-limit-hit"


def stop_pending(u: Unit) -> bool:
    """A stop job waits: an event must start nothing."""
    return u.job is not None and u.job.type is JobType.STOP


class TriggeringType(StatefulType[StateT, ResultT]):
    def stop(self) -> OpResult:
        self._enter_dead(self._results("success"))
        return OpResult.STARTED

    def _trigger_loaded(self, trigger: Unit | None) -> bool:
        """unit_test_trigger_loaded(): a start needs the unit to trigger, loaded."""
        log, uid = self.unit.manager.log, self.unit.id
        if trigger is None:
            log.error("%s: Refusing to start, no unit to trigger.", uid)
            return False
        if trigger.load_state is not LoadState.LOADED:
            log.error("%s: Refusing to start, unit %s to trigger not loaded.", uid, trigger.id)
            return False
        return True

    def _queue_job(self, unit_id: str, job_type: JobType, failure: str) -> bool:
        """A job for the triggered unit; a refused one fails this unit with 'resources'."""
        try:
            self.unit.manager.engine.add_job(unit_id, job_type, JobMode.REPLACE, manual=False)
        except errors.ManagerError as e:
            self.unit.manager.log.warning("%s: %s: %s", self.unit.id, failure, e.message)
            self._enter_dead(self._results("resources"))
            return False
        return True

    def _trigger_vanished(self) -> None:
        self.unit.manager.log.error("%s: Unit to trigger vanished.", self.unit.id)
        self._enter_dead(self._results("resources"))

    def _start_triggered(self, trigger: Unit | None) -> bool:
        """Queue the start of the triggered unit, which may have gone meanwhile."""
        if trigger is None:
            self._trigger_vanished()
            return False
        return self._queue_job(trigger.id, JobType.START, "Failed to queue unit startup job")
