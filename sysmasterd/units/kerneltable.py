"""What mount and swap units share: their state mirrors a table of the kernel (mountinfo,
/proc/swaps) and their control processes are fixed programs (mount/umount, swapon/swapoff) whose
command line the unit records per Exec* kind, as systemd's mount.c and swap.c keep them.

A type names the state the kernel's listing means (``ACTIVE``), its states with a control process
and its signal states, and what its control process is called in the log; it implements
``in_kernel()``, ``_timeout_setting()`` and its own transitions."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, ClassVar

from compat.model import ExecCommand
from sysmasterd.core.clock import DualTimestamp
from sysmasterd.core.control import CLD_DUMPED, CLD_EXITED, CLD_KILLED, ExecStatus, describe_exit
from sysmasterd.core.execute import describe_status
from sysmasterd.core.kill import group_settled
from sysmasterd.core.unittype import OpResult
from sysmasterd.units.controlled import POLL_EMPTY_SEC, ControlledType
from sysmasterd.units.stateful import ResultT, StateT

if TYPE_CHECKING:
    from sysmasterd.core.unit import Unit

_FAILURE = {CLD_EXITED: "exit-code", CLD_KILLED: "signal", CLD_DUMPED: "core-dump"}


class KernelTableType(ControlledType[StateT, ResultT]):
    ACTIVE: ClassVar[str]  # the state while the kernel lists the unit ("mounted", "active")
    WITH_PROCESS: ClassVar[frozenset[Any]]
    SIGNAL_STATES: ClassVar[frozenset[Any]]
    PROCESS: ClassVar[str]  # "Mount process", as the exit is logged
    EXITED_LOG_LEVEL: ClassVar[int] = logging.WARNING  # of a failed exit (a signal always warns)

    def __init__(self, unit: Unit, states: type[StateT], results: type[ResultT]) -> None:
        super().__init__(unit, states, results)
        self.exec_status: dict[str, ExecStatus] = {}
        self.exec_argv: dict[str, list[str]] = {}  # the command each Exec* kind last ran

    def in_kernel(self) -> bool:
        """Whether the kernel's table lists the unit, as last read."""
        raise NotImplementedError

    def _timeout_setting(self) -> int | None:
        raise NotImplementedError

    def timeout_usec(self) -> int:
        t = self._timeout_setting()
        return t if t is not None else self.unit.manager.settings.default_timeout_start_usec

    def _reload_succeeded(self) -> bool:
        return True

    # -- state machine ------------------------------------------------------------------------------

    def _set_state(self, state: StateT) -> None:
        old = self.state
        self.state = state
        if state not in self.WITH_PROCESS:
            self.timer.cancel()
            self.control_pid_ = 0
            self.control_kind = ""
        if state.value in ("dead", "failed"):
            self.unit.manager.runtime.cgroup_cleanup(self.unit)
        self._log_change(old)
        self.unit.notify(self._reload_succeeded())

    def _start_cycle(self) -> OpResult | None:
        """A start past the state checks: the start limit, then a new invocation with a clean
        record; FAILED if the limit refuses it."""
        if self._refuse_start_limit():
            return OpResult.FAILED
        self.unit.new_invocation()
        self._cycle_clear()
        return None

    def _cycle_clear(self) -> None:
        self._result = self._results("success")
        self.exec_status = {}
        self.exec_argv = {}

    def _enter_active(self, result: ResultT) -> None:
        self._keep_result(result)
        self._set_state(self._states(self.ACTIVE))

    def _enter_dead_or_active(self, result: ResultT) -> None:
        """After an operation, mirror what the kernel now says about the unit."""
        if self.in_kernel():
            self._enter_active(result)
        else:
            self._enter_dead(result)

    def _run_control(self, kind: str, argv: list[str], state: StateT, task: str) -> None:
        m = self.unit.manager
        pid = m.runtime.spawn(self.unit, ExecCommand(argv[0], tuple(argv)), {})
        if pid is None:
            m.log.warning("%s: Failed to run '%s' task", self.unit.id, task)
            self._spawn_failed(kind)
            return
        self.control_pid_, self.control_kind = pid, kind
        self.exec_status[kind] = ExecStatus(start=DualTimestamp.now(), pid=pid)
        self.exec_argv[kind] = argv
        self.timer.arm(self.timeout_usec(), self._on_timeout)
        self._set_state(state)

    def _spawn_failed(self, kind: str) -> None:
        self._enter_dead_or_active(self._results("resources"))

    def _poll_until_gone(self) -> None:
        if self.state not in self.SIGNAL_STATES or self._control_running():
            return
        if group_settled(self.unit):
            self._enter_dead_or_active(self._results("success"))
            return
        self.unit.manager.loop.call_later(POLL_EMPTY_SEC, self._poll_until_gone)

    def _control_exited(self, pid: int, status: int) -> ResultT:
        """The control process ended: its record and log line; what its exit means as a result."""
        code, st = describe_status(status)
        self.control_pid_ = 0
        f = self._results("success" if code == CLD_EXITED and st == 0 else _FAILURE.get(code, "signal"))
        record = self.exec_status.get(self.control_kind)
        if record is not None and record.pid == pid:
            record.exit, record.code, record.status = DualTimestamp.now(), code, st
        ok = f is self._results("success")
        text = f"{self.PROCESS} exited, {describe_exit(code, st)}{' (success)' if ok else ''}"
        level = logging.DEBUG if ok else self.EXITED_LOG_LEVEL if code == CLD_EXITED else logging.WARNING
        self.unit.manager.log.log(level, "%s: %s", self.unit.id, text)
        if not ok:
            self.unit.log(f"{self.unit.id}: {text}")
        self.control_kind = ""
        return f

    # -- persistence ----------------------------------------------------------------------------------

    def serialize(self) -> dict[str, Any]:
        return {**self._serialize_state(), **self._serialize_control(),
                "exec_status": {k: v.to_list() for k, v in self.exec_status.items()}, "exec_argv": self.exec_argv}

    def deserialize(self, data: dict[str, Any]) -> None:
        if not self._deserialize_state(data):
            return
        self._deserialize_control(data)
        self.exec_status = {k: ExecStatus.from_list(v) for k, v in data.get("exec_status", {}).items()}
        self.exec_argv = {k: list(v) for k, v in data.get("exec_argv", {}).items()}

    def _resume_timeout(self) -> bool:
        """After a restore: a running control process gets its timeout back."""
        if self.state in self.WITH_PROCESS and self.control_pid_ and not self.timer.armed:
            return self._rearm_restored(self.timeout_usec(), self._on_timeout)
        return False
