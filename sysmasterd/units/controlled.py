"""What the types that run one control process at a time share (socket, mount, swap): its PID and
which Exec*= kind it runs, the state's one timer, kill() and the PID's way through a core restart.

The exit handling and the stop phases come from core/control.py and core/kill.py; this is the
per-unit bookkeeping around them."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from compat.model import USEC_INFINITY
from sysmasterd.core.cgroup import send_signal
from sysmasterd.core.kill import KillPhase, kill_unit
from sysmasterd.core.statetimer import StateTimer
from sysmasterd.core.unittype import KillWho
from sysmasterd.units.stateful import ResultT, StatefulType, StateT

if TYPE_CHECKING:
    from sysmasterd.core.unit import Unit

# How often a stop phase without a process to wait for checks whether the unit is empty.
POLL_EMPTY_SEC = 0.05


class ControlledType(StatefulType[StateT, ResultT]):
    def __init__(self, unit: Unit, states: type[StateT], results: type[ResultT]) -> None:
        super().__init__(unit, states, results)
        self.control_pid_ = 0
        self.control_kind = ""  # the Exec*= kind the control process runs
        self.timer = StateTimer(unit.manager.loop)

    def control_pid(self) -> int:
        return self.control_pid_

    def pids(self) -> dict[str, int]:
        return {"control": self.control_pid_}

    def kill(self, who: KillWho, signo: int) -> list[int]:
        sent: list[int] = []
        if who in (KillWho.CONTROL, KillWho.ALL) and self.control_pid_ and send_signal(self.control_pid_, signo):
            sent.append(self.control_pid_)
        if who is KillWho.ALL:
            roots = [self.control_pid_] if self.control_pid_ else []
            sent += self.unit.manager.runtime.kill_unit_processes(self.unit, signo, exclude=frozenset(sent),
                                                                  roots=roots)
        return sent

    def timeout_usec(self) -> int:
        raise NotImplementedError

    def _on_timeout(self) -> None:
        raise NotImplementedError

    def _poll_until_gone(self) -> None:
        """Signalled processes without a control process to wait for: check until the unit is empty."""
        raise NotImplementedError

    def _control_running(self) -> bool:
        return bool(self.control_pid_) and self.unit.manager.runtime.is_tracked(self.control_pid_)

    def _send_sigkill(self) -> bool:
        """SendSIGKILL=: whether a stop escalates to the final kill signal."""
        return self.unit.config is None or self.unit.config.kill.send_sigkill

    def _kill_phase(self, state: StateT, result: ResultT, phase: KillPhase) -> bool:
        """Enter a signal state: the control process and, as KillMode= says, the rest signalled.
        False (and the state not entered) if nothing is left to wait for."""
        self._keep_result(result)
        tracked = [self.control_pid_] if self._control_running() else []
        if not kill_unit(self.unit, phase, tracked):
            return False
        self.timer.arm(self.timeout_usec(), self._on_timeout)
        self._set_state(state)
        self._poll_until_gone()
        return True

    def _enter_dead(self, result: ResultT) -> None:
        self.control_pid_ = 0
        super()._enter_dead(result)

    # -- persistence ------------------------------------------------------------------------------

    def _serialize_control(self) -> dict[str, Any]:
        return {"control_pid": self.control_pid_, "control_kind": self.control_kind,
                "timer_deadline": self.timer.deadline if self.timer.armed else 0.0}

    def _deserialize_control(self, data: dict[str, Any]) -> None:
        self.control_pid_ = int(data.get("control_pid", 0))
        self.control_kind = str(data.get("control_kind", ""))
        self.timer.deadline = float(data.get("timer_deadline", 0.0))

    def stored_pids(self, data: dict[str, Any]) -> dict[str, int]:
        return {"control": int(data.get("control_pid") or 0)}

    def give_back_pid(self, role: str, pid: int) -> None:
        if role == "control":
            self.control_pid_ = pid

    def _rearm_restored(self, usec: int, on_timeout: Callable[[], None]) -> bool:
        """After a restore: the stored deadline again, or a fresh timeout of ``usec`` if none was
        stored; True if a timer runs (0 and infinity mean none)."""
        deadline = self.timer.deadline
        if not deadline and usec not in (0, USEC_INFINITY):
            deadline = self.unit.manager.loop.time() + usec / 1e6
        if not deadline:
            return False
        self.timer.arm_at(deadline, on_timeout)
        return True
