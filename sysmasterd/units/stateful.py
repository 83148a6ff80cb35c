"""What every type with a state machine of systemd's shape shares: a state enum whose values are the
sub-states (with "dead" and "failed"), a result enum (with "success") where the first failure of a
cycle sticks, the table from state to active state, and the job messages of the type.

Types derive from ``StatefulType[TheirState, TheirResult]`` and implement ``_set_state()``; the rest
of the protocol answers they share (ActiveState/SubState/Result, reset-failed, entering dead or
failed, the stored state and result) come from here."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from sysmasterd.core.states import ActiveState, JobResult, JobType
from sysmasterd.units.base import TypeBase

if TYPE_CHECKING:
    from sysmasterd.core.unit import Unit

StateT = TypeVar("StateT", bound=enum.Enum)
ResultT = TypeVar("ResultT", bound=enum.Enum)


class StatefulType(TypeBase, Generic[StateT, ResultT]):
    # Mapping[Any, ...]: a ClassVar cannot name the type variables.
    ACTIVE_STATE: ClassVar[Mapping[Any, ActiveState]] = {}
    DONE_MESSAGES: ClassVar[Mapping[tuple[JobType, JobResult], str]] = {}

    def __init__(self, unit: Unit, states: type[StateT], results: type[ResultT]) -> None:
        super().__init__(unit)
        self._states, self._results = states, results
        self.state: StateT = states("dead")
        self._result: ResultT = results("success")

    def _set_state(self, state: StateT) -> None:
        raise NotImplementedError

    # -- UnitType answers -------------------------------------------------------------------------

    def active_state(self) -> ActiveState:
        return self.ACTIVE_STATE[self.state]

    def sub_state(self) -> str:
        return str(self.state.value)

    def result(self) -> str:
        return str(self._result.value)

    def job_done_message(self, job_type: JobType, result: JobResult) -> str | None:
        return self.DONE_MESSAGES.get((job_type, result))

    def reset_failed(self) -> None:
        if self.state is self._states("failed"):
            self._set_state(self._states("dead"))
        self._result = self._results("success")

    # -- results ----------------------------------------------------------------------------------

    @property
    def succeeded(self) -> bool:
        """Whether the cycle has not failed so far."""
        return self._result is self._results("success")

    def _keep_result(self, result: ResultT) -> None:
        """The first failure of a cycle is its result."""
        if self.succeeded:
            self._result = result

    def _enter_dead(self, result: ResultT) -> None:
        self._keep_result(result)
        self._set_state(self._states("dead" if self.succeeded else "failed"))

    def _refuse_start_limit(self) -> bool:
        """StartLimitBurst= hit: the unit fails with 'start-limit-hit' and the start is refused."""
        if self.unit.test_start_limit():
            return False
        self._enter_dead(self._results("start-limit-hit"))
        return True

    def _log_change(self, old: StateT) -> None:
        if old is not self.state:
            self.unit.manager.log.debug("%s: Changed %s -> %s", self.unit.id, old.value, self.state.value)

    # -- persistence ------------------------------------------------------------------------------

    def _serialize_state(self) -> dict[str, Any]:
        return {"state": self.state.value, "result": self._result.value}

    def _deserialize_state(self, data: dict[str, Any]) -> bool:
        """State and result as stored; False (and nothing changed) if either is unknown."""
        try:
            state = self._states(data.get("state", "dead"))
            result = self._results(data.get("result", "success"))
        except ValueError:
            return False
        self.state, self._result = state, result
        return True
