"""Service units: the state machine of systemd's service.c, driving processes through the manager.

States and results are systemd's (ServiceState, ServiceResult). The main process and at most
one control process (ExecCondition/StartPre/StartPost/Reload/Stop/StopPost, and forking's
ExecStart) are tracked; every transition reports back through unit.notify().
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
from typing import TYPE_CHECKING, Any

from compat.config_service import effective_type
from compat.model import (
    USEC_INFINITY,
    ExecCommand,
    ExecFlag,
    NotifyAccess,
    OOMPolicy,
    ServiceRestart,
    ServiceSection,
    ServiceType,
    UnitKind,
)
from sysmasterd.core.cgroup import process_alive, process_start_time, send_signal
from sysmasterd.core.clock import DualTimestamp
from sysmasterd.core.control import (
    CLD_DUMPED,
    CLD_EXITED,
    CLD_KILLED,
    ExecStatus,
    describe_exit,
    exit_environment,
    is_success,
)
from sysmasterd.core.dependency import Dep
from sysmasterd.core.execute import PassedFds, describe_status
from sysmasterd.core.kill import KillPhase, group_settled, kill_unit
from sysmasterd.core.states import ActiveState, JobResult, JobType, ServiceResult
from sysmasterd.core.states import ServiceState as S
from sysmasterd.core.statetimer import StateTimer
from sysmasterd.core.unittype import Context, KillWho, OpResult, TypeDescriptor
from sysmasterd.units.base import TypeBase
from sysmasterd.units.fdstore import FdStore, name_is_valid
from sysmasterd.units.socket import passed_fds

if TYPE_CHECKING:
    import asyncio

    from sysmasterd.core.unit import Unit

_ACTIVE_STATE = {
    S.DEAD: ActiveState.INACTIVE, S.CONDITION: ActiveState.ACTIVATING, S.START_PRE: ActiveState.ACTIVATING,
    S.START: ActiveState.ACTIVATING, S.START_POST: ActiveState.ACTIVATING, S.RUNNING: ActiveState.ACTIVE,
    S.EXITED: ActiveState.ACTIVE, S.RELOAD: ActiveState.RELOADING, S.STOP: ActiveState.DEACTIVATING,
    S.STOP_WATCHDOG: ActiveState.DEACTIVATING, S.STOP_SIGTERM: ActiveState.DEACTIVATING,
    S.STOP_SIGKILL: ActiveState.DEACTIVATING, S.STOP_POST: ActiveState.DEACTIVATING,
    S.FINAL_WATCHDOG: ActiveState.DEACTIVATING, S.FINAL_SIGTERM: ActiveState.DEACTIVATING,
    S.FINAL_SIGKILL: ActiveState.DEACTIVATING, S.FAILED: ActiveState.FAILED,
    S.AUTO_RESTART: ActiveState.ACTIVATING, S.CLEANING: ActiveState.MAINTENANCE,
}  # fmt: skip

_STARTING = (S.CONDITION, S.START_PRE, S.START, S.START_POST)
_STOPPING = (S.STOP, S.STOP_WATCHDOG, S.STOP_SIGTERM, S.STOP_SIGKILL, S.STOP_POST, S.FINAL_WATCHDOG,
             S.FINAL_SIGTERM, S.FINAL_SIGKILL)
_WATCHDOG_STATES = (S.STOP_WATCHDOG, S.FINAL_WATCHDOG)
_SIGNAL_STATES = (S.STOP_WATCHDOG, S.STOP_SIGTERM, S.STOP_SIGKILL, S.FINAL_WATCHDOG, S.FINAL_SIGTERM,
                  S.FINAL_SIGKILL)
DEFAULT_TIMEOUT_USEC = 90_000_000
POLL_EMPTY_SEC = 0.05

# Where a service whose start the core's death interrupted stands once its main process is found.
_STATE_WITH_MAIN = {ServiceType.DBUS: S.START, ServiceType.NOTIFY: S.START, ServiceType.ONESHOT: S.START}

EXEC_KINDS = ("ExecCondition", "ExecStartPre", "ExecStart", "ExecStartPost", "ExecReload", "ExecStop",
              "ExecStopPost")


class Service(TypeBase):
    def __init__(self, unit: Unit) -> None:
        super().__init__(unit)
        self.state = S.DEAD
        self._result = ServiceResult.SUCCESS
        self.reload_result = ServiceResult.SUCCESS
        self.main_pid_ = 0
        self.main_pid_known = False
        self.main_pid_alien = False  # adopted from a PID file, not our child
        self.control_pid_ = 0
        self.control_kind = ""  # which Exec*= list the control process runs
        self.control_index = 0
        self.main_index = 0  # oneshot: which ExecStart= runs
        self.exec_status: dict[str, list[ExecStatus]] = {}
        self.main_exec = ExecStatus()
        self.status_text = ""
        self.status_errno = 0
        self.n_restarts = 0
        self.forbid_restart = False
        self.notify_state_ready = False
        self.bus_name_good = False  # Type=dbus: BusName= has an owner, as last reported
        self._bus_name_watched: str | None = None
        self.watchdog_usec_override = 0
        self.watchdog_last = DualTimestamp()
        self.timer = StateTimer(unit.manager.loop)
        self._watchdog_timer: asyncio.TimerHandle | None = None
        self._pending_restart = False
        self._pid_starts: dict[int, int | None] = {}
        self.fd_store = FdStore(unit)

    # -- configuration shortcuts ----------------------------------------------------------------

    @property
    def cfg(self) -> ServiceSection:
        c = self.unit.config
        return c.service if c is not None and c.service is not None else ServiceSection()

    @property
    def type(self) -> ServiceType:
        return effective_type(self.cfg)

    @property
    def notify_access(self) -> NotifyAccess:
        na = self.cfg.notify_access
        if na is None or (na is NotifyAccess.NONE and self.type is ServiceType.NOTIFY):
            return NotifyAccess.MAIN if (self.type is ServiceType.NOTIFY or self.cfg.watchdog_usec
                                         or self.cfg.file_descriptor_store_max) else NotifyAccess.NONE
        return na

    def oom_policy(self) -> OOMPolicy:
        """OOMPolicy=, else as systemd fills it in: continue where the cgroup is delegated (its
        payload knows better), else the manager's DefaultOOMPolicy=."""
        if self.cfg.oom_policy is not None:
            return self.cfg.oom_policy
        cfg = self.unit.config
        if cfg is not None and cfg.cgroup.delegate:
            return OOMPolicy.CONTINUE
        return self.unit.manager.settings.default_oom_policy

    def notify_cgroup_oom(self) -> None:
        """What the OOM killer's kill means in each state (systemd's service_notify_cgroup_oom_event)."""
        policy, st, oom = self.oom_policy(), self.state, ServiceResult.OOM_KILL
        if policy is OOMPolicy.CONTINUE:
            return
        if st in (S.CONDITION, S.START_PRE, S.START, S.START_POST, S.STOP):
            self._enter_signal(S.STOP_SIGTERM if policy is OOMPolicy.STOP else S.STOP_SIGKILL, oom)
        elif st in (S.EXITED, S.RUNNING):
            if policy is OOMPolicy.STOP:
                self._enter_stop(oom)
            else:
                self._enter_signal(S.STOP_SIGKILL, oom)
        elif st in (S.STOP_WATCHDOG, S.STOP_SIGTERM):
            self._enter_signal(S.STOP_SIGKILL, oom)
        elif st in (S.STOP_SIGKILL, S.FINAL_SIGKILL):
            if self._result is ServiceResult.SUCCESS:
                self._result = oom
        elif st in (S.STOP_POST, S.FINAL_SIGTERM):
            self._enter_signal(S.FINAL_SIGKILL, oom)

    def commands(self, kind: str) -> list[ExecCommand]:
        attr = {"ExecCondition": "exec_condition", "ExecStartPre": "exec_start_pre", "ExecStart": "exec_start",
                "ExecStartPost": "exec_start_post", "ExecReload": "exec_reload", "ExecStop": "exec_stop",
                "ExecStopPost": "exec_stop_post"}[kind]
        cmds: list[ExecCommand] = getattr(self.cfg, attr)
        return cmds

    def restart_usec(self) -> int:
        """RestartSec=, or the manager's DefaultRestartSec=."""
        usec = self.cfg.restart_usec
        return usec if usec is not None else self.unit.manager.settings.default_restart_usec

    def timeout_usec(self, which: str) -> int:
        """TimeoutStartSec=/TimeoutStopSec=/TimeoutAbortSec=, or the manager's default; 0: none.
        Without either abort setting, a watchdog abort waits as long as a stop."""
        m = self.unit.manager
        if which == "abort":
            abort = self.cfg.timeout_abort_usec
            if abort is None:
                abort = m.settings.default_timeout_abort_usec
            return int(abort) if abort is not None else self.timeout_usec("stop")
        v = getattr(self.cfg, f"timeout_{which}_usec")
        if v is None:
            v = m.settings.default_timeout_start_usec if which == "start" else m.settings.default_timeout_stop_usec
        if which == "start" and self.type is ServiceType.ONESHOT and self.cfg.timeout_start_usec is None:
            return 0  # oneshot: no start timeout by default
        return int(v)

    # -- UnitType interface ---------------------------------------------------------------------

    def active_state(self) -> ActiveState:
        return _ACTIVE_STATE[self.state]

    def sub_state(self) -> str:
        return self.state.value

    def result(self) -> str:
        return self._result.value

    def main_pid(self) -> int:
        return self.main_pid_

    def control_pid(self) -> int:
        return self.control_pid_

    def pids(self) -> dict[str, int]:
        return {"main": self.main_pid_, "control": self.control_pid_}

    def job_done_message(self, job_type: JobType, result: JobResult) -> str | None:
        # A oneshot has finished its work rather than started something.
        if job_type is JobType.START and result is JobResult.DONE and self.type is ServiceType.ONESHOT:
            return "Finished {}."
        return None

    def can_reload(self) -> bool:
        return bool(self.cfg.exec_reload)

    def add_implicit_dependencies(self) -> None:
        """Sockets=: each socket is wanted, ordered before the service, and triggers it, so the
        service gets its fds (config_parse_service_sockets adds these three)."""
        m, u = self.unit.manager, self.unit
        for name in self.cfg.sockets:
            m.add_dependency(u, Dep.WANTS, name)
            m.add_dependency(u, Dep.AFTER, name)
            m.add_dependency(u, Dep.TRIGGERED_BY, name)

    def add_default_dependencies(self) -> None:
        m = self.unit.manager
        u = self.unit
        if m.is_system:
            m.add_dependency(u, Dep.REQUIRES, "sysinit.target")
            m.add_dependency(u, Dep.AFTER, "sysinit.target")
        else:
            m.add_dependency(u, Dep.REQUIRES, "basic.target")
        m.add_dependency(u, Dep.AFTER, "basic.target")
        m.add_dependency(u, Dep.CONFLICTS, "shutdown.target")
        m.add_dependency(u, Dep.BEFORE, "shutdown.target")

    def start(self) -> OpResult:
        if self.state in _STOPPING:
            return OpResult.AGAIN
        if self.state is S.AUTO_RESTART:
            return OpResult.AGAIN
        if self.state in _STARTING:
            return OpResult.STARTED
        if not self.unit.test_start_limit():
            # Like systemd, an earlier failure (an automatic restart's cause) stays the result.
            if self._result is ServiceResult.SUCCESS:
                self._result = ServiceResult.START_LIMIT_HIT
            self._set_state(S.FAILED)
            return OpResult.FAILED
        self._result = ServiceResult.SUCCESS
        self.reload_result = ServiceResult.SUCCESS
        self.main_pid_ = 0
        self.main_pid_known = False
        self.main_pid_alien = False
        self.control_pid_ = 0
        self.exec_status = {}
        self.main_exec = ExecStatus()
        self.status_text = ""
        self.status_errno = 0
        self.forbid_restart = False
        self.notify_state_ready = False
        self.watchdog_usec_override = 0
        if not self._pending_restart:
            self.n_restarts = 0
        self._pending_restart = False
        self.unit.new_invocation()
        self.unit.manager.store_intent(self.unit, "start")
        self._enter_condition()
        return OpResult.STARTED

    def stop(self) -> OpResult:
        self.forbid_restart = True
        if self.state in _STOPPING:
            return OpResult.STARTED
        if self.state is S.AUTO_RESTART:
            self.timer.cancel()
            self._set_state(S.DEAD)
            return OpResult.STARTED
        if self.state in (S.CONDITION, S.START_PRE, S.START, S.START_POST, S.RELOAD):
            self._enter_signal(S.STOP_SIGTERM, ServiceResult.SUCCESS)
            return OpResult.STARTED
        if self.state in (S.RUNNING, S.EXITED):
            self._enter_stop(ServiceResult.SUCCESS)
            return OpResult.STARTED
        return OpResult.ALREADY

    def reload(self) -> OpResult:
        if self.state not in (S.RUNNING, S.EXITED):
            return OpResult.AGAIN
        self.reload_result = ServiceResult.SUCCESS
        self._run_control("ExecReload", 0, S.RELOAD, self.timeout_usec("start"))
        return OpResult.STARTED

    def kill(self, who: KillWho, signo: int) -> list[int]:
        sent: list[int] = []
        if who in (KillWho.MAIN, KillWho.ALL) and self.main_pid_ and send_signal(self.main_pid_, signo):
            sent.append(self.main_pid_)
        if who in (KillWho.CONTROL, KillWho.ALL) and self.control_pid_ and send_signal(self.control_pid_, signo):
            sent.append(self.control_pid_)
        if who is KillWho.ALL:
            sent += self.unit.manager.runtime.kill_unit_processes(self.unit, signo, exclude=frozenset(sent),
                                                          roots=self._roots())
        return sent

    def reset_failed(self) -> None:
        if self.state is S.FAILED:
            self._set_state(S.DEAD)
        self._result = ServiceResult.SUCCESS
        self.reload_result = ServiceResult.SUCCESS
        self.n_restarts = 0

    # -- state machine --------------------------------------------------------------------------

    def _set_state(self, state: S, reload_success: bool = True) -> None:
        old = self.state
        self.state = state
        if state in (S.DEAD, S.EXITED, S.FAILED, S.CLEANING):  # states without a timeout
            self.timer.cancel()
        if state not in (S.RUNNING, S.RELOAD, S.START_POST, S.START) or old in _STOPPING:
            self._stop_watchdog()
        if state in (S.DEAD, S.FAILED, S.AUTO_RESTART):
            self.unit.manager.runtime.cgroup_cleanup(self.unit)
            self._unwatch_bus_name()
        if state is S.RUNNING and old is not S.RUNNING:
            self._arm_runtime_max()
            self._start_watchdog()
        self.unit.notify(reload_success)

    def _enter_condition(self) -> None:
        if self.commands("ExecCondition"):
            self._run_control("ExecCondition", 0, S.CONDITION, self.timeout_usec("start"))
        else:
            self._enter_start_pre()

    def _enter_start_pre(self) -> None:
        if self.commands("ExecStartPre"):
            self._run_control("ExecStartPre", 0, S.START_PRE, self.timeout_usec("start"))
        else:
            self._enter_start()

    def _enter_start(self) -> None:
        cmds = self.commands("ExecStart")
        if not cmds:
            if self.type is not ServiceType.ONESHOT:
                self.unit.manager.log.error("%s: Service has no ExecStart= setting, which is only allowed for "
                                            "Type=oneshot services. Refusing.", self.unit.id)
                self._enter_dead(ServiceResult.RESOURCES, allow_restart=False)
                return
            # A state change, as systemd forces one: dead -> dead would never complete the job
            # nor fire SuccessAction= (systemd-poweroff.service is such a oneshot).
            self._set_state(S.START)
            self._enter_start_post()
            return
        if self.type is ServiceType.FORKING:
            self._run_control("ExecStart", 0, S.START, self.timeout_usec("start"))
            return
        self.main_index = 0
        pid = self._spawn_main(cmds[0])
        if pid is None:
            return
        self._set_state(S.START)
        if self.type in (ServiceType.SIMPLE, ServiceType.IDLE):
            self._enter_start_post()
            return
        # exec waits for the exec() to succeed, notify for READY=1, oneshot for the exit, dbus
        # for its BusName= to have an owner (maybe already, else when the bus reports it).
        self.timer.arm(self.timeout_usec("start"), self._on_timeout)
        if self.type is ServiceType.DBUS:
            self._watch_bus_name()
            if self.bus_name_good and self.state is S.START:
                self._enter_start_post()

    def exec_succeeded(self, pid: int) -> None:
        """The manager saw the close-on-exec pipe close without a report: execve() worked."""
        if pid == self.main_pid_ and self.state is S.START and self.type is ServiceType.EXEC:
            self._enter_start_post()

    def _enter_start_post(self) -> None:
        if self.commands("ExecStartPost"):
            self._run_control("ExecStartPost", 0, S.START_POST, self.timeout_usec("start"))
        else:
            self._enter_running()

    def _enter_running(self, reload_success: bool = True) -> None:
        main_alive = self._main_alive()
        if self.type is ServiceType.FORKING and not self.main_pid_known:
            self._guess_main_pid()
            main_alive = self._main_alive()
        alive = main_alive or (self.type is ServiceType.FORKING and self.main_pid_known is False and
                               not self.unit.manager.runtime.cgroups_empty(self.unit))
        if alive and (self.bus_name_good or self.type is not ServiceType.DBUS):
            self._set_state(S.RUNNING, reload_success)
        elif self.cfg.remain_after_exit:
            self._set_state(S.EXITED, reload_success)
        else:
            self._enter_stop(ServiceResult.SUCCESS)

    def _enter_stop(self, result: ServiceResult) -> None:
        if result is not ServiceResult.SUCCESS and self._result is ServiceResult.SUCCESS:
            self._result = result
        if self.commands("ExecStop"):
            self._run_control("ExecStop", 0, S.STOP, self.timeout_usec("stop"))
        else:
            self._enter_signal(S.STOP_SIGTERM, ServiceResult.SUCCESS)

    def _enter_signal(self, state: S, result: ServiceResult) -> None:
        if result is not ServiceResult.SUCCESS and self._result is ServiceResult.SUCCESS:
            self._result = result
        if state in (S.STOP_SIGTERM, S.FINAL_SIGTERM):
            phase = KillPhase.TERMINATE
        elif state in (S.STOP_WATCHDOG, S.FINAL_WATCHDOG):
            phase = KillPhase.WATCHDOG
        else:
            phase = KillPhase.KILL
        sent = kill_unit(self.unit, phase, [p for p in (self.main_pid_, self.control_pid_) if self._running(p)])
        if sent:
            self._set_state(state)
            usec = self.timeout_usec("abort" if state in _WATCHDOG_STATES else "stop")
            if state in (S.STOP_SIGKILL, S.FINAL_SIGKILL):
                usec = min(usec, 90_000_000) if usec not in (0, USEC_INFINITY) else 90_000_000
            self.timer.arm(usec, self._on_timeout)
            self._poll_until_gone()
            return
        if state in (S.STOP_WATCHDOG, S.STOP_SIGTERM, S.STOP_SIGKILL):
            self._enter_stop_post(ServiceResult.SUCCESS)
        else:
            self._enter_dead(ServiceResult.SUCCESS, allow_restart=True)

    def _roots(self) -> list[int]:
        return [p for p in (self.main_pid_, self.control_pid_) if p]

    def _poll_until_gone(self) -> None:
        """While signalled processes linger, check now and then whether the unit is empty."""
        if self.state not in _SIGNAL_STATES:
            return
        if not self._main_alive() and not self._control_alive() and group_settled(self.unit):
            self._signal_state_done()
            return
        self.unit.manager.loop.call_later(POLL_EMPTY_SEC, self._poll_until_gone)

    def _signal_state_done(self) -> None:
        if self.state in (S.STOP_WATCHDOG, S.STOP_SIGTERM, S.STOP_SIGKILL):
            self._enter_stop_post(ServiceResult.SUCCESS)
        elif self.state in (S.FINAL_WATCHDOG, S.FINAL_SIGTERM, S.FINAL_SIGKILL):
            self._enter_dead(ServiceResult.SUCCESS, allow_restart=True)

    def _enter_stop_post(self, result: ServiceResult) -> None:
        if result is not ServiceResult.SUCCESS and self._result is ServiceResult.SUCCESS:
            self._result = result
        if self.commands("ExecStopPost"):
            self._run_control("ExecStopPost", 0, S.STOP_POST, self.timeout_usec("stop"))
        else:
            self._enter_signal(S.FINAL_SIGTERM, ServiceResult.SUCCESS)

    def _enter_dead(self, result: ServiceResult, allow_restart: bool) -> None:
        if result is not ServiceResult.SUCCESS and self._result is ServiceResult.SUCCESS:
            self._result = result
        if self._result is ServiceResult.SKIP_CONDITION:
            end = S.DEAD
        else:
            end = S.FAILED if self._result is not ServiceResult.SUCCESS else S.DEAD
        self.main_pid_ = 0
        self.control_pid_ = 0
        restart = allow_restart and self._shall_restart()
        self._set_state(end)
        if restart and self.state is end:
            self._set_state(S.AUTO_RESTART)
            self.timer.arm_delay(self.restart_usec(), self._on_restart_timer)
            self.unit.manager.store_intent(self.unit, "auto-restart")

    def _shall_restart(self) -> bool:
        job = self.unit.job
        if self.forbid_restart or (job is not None and job.type is JobType.STOP):
            return False
        code, status = self.main_exec.code, self.main_exec.status
        if self.main_exec.pid:
            force = self.cfg.restart_force_exit_status
            prevent = self.cfg.restart_prevent_exit_status
            if (code == CLD_EXITED and status in force.statuses) or (code != CLD_EXITED and status in force.signals):
                return True
            if (code == CLD_EXITED and status in prevent.statuses) or \
                    (code != CLD_EXITED and status in prevent.signals):
                return False
        r, res = self.cfg.restart, self._result
        if res in (ServiceResult.START_LIMIT_HIT, ServiceResult.SKIP_CONDITION):
            return False
        if r is ServiceRestart.ALWAYS:
            return True
        if r is ServiceRestart.ON_SUCCESS:
            return res is ServiceResult.SUCCESS
        if r is ServiceRestart.ON_FAILURE:
            return res is not ServiceResult.SUCCESS
        if r is ServiceRestart.ON_ABNORMAL:
            return res not in (ServiceResult.SUCCESS, ServiceResult.EXIT_CODE)
        if r is ServiceRestart.ON_WATCHDOG:
            return res is ServiceResult.WATCHDOG
        if r is ServiceRestart.ON_ABORT:
            return res in (ServiceResult.SIGNAL, ServiceResult.CORE_DUMP)
        return False

    def _on_restart_timer(self) -> None:
        if self.state is not S.AUTO_RESTART:
            return
        self.n_restarts += 1
        self._pending_restart = True
        m = self.unit.manager
        m.log.info("%s: Scheduled restart job, restart counter is at %d.", self.unit.id, self.n_restarts)
        m.engine.queue_internal_job(self.unit, JobType.RESTART)

    def _on_timeout(self) -> None:
        m, uid = self.unit.manager, self.unit.id
        st = self.state
        if st in _STARTING:
            m.log.warning("%s: %s operation timed out. Terminating.", uid, _state_verb(st))
            if st is S.START_POST:
                self._enter_stop(ServiceResult.TIMEOUT)
            else:
                self._enter_signal(S.FINAL_SIGTERM, ServiceResult.TIMEOUT)
        elif st is S.RUNNING:
            m.log.warning("%s: Service reached runtime time limit. Stopping.", uid)
            self._enter_stop(ServiceResult.TIMEOUT)
        elif st is S.RELOAD:
            m.log.warning("%s: Reload operation timed out. Killing reload process.", uid)
            if self.control_pid_:
                send_signal(self.control_pid_, signal.SIGKILL)
            self.reload_result = ServiceResult.TIMEOUT
            self._set_state(S.RUNNING, reload_success=False)
        elif st is S.STOP:
            m.log.warning("%s: Stopping timed out. Terminating.", uid)
            self._enter_signal(S.STOP_SIGTERM, ServiceResult.TIMEOUT)
        elif st in (S.STOP_SIGTERM, S.STOP_WATCHDOG):
            kill = self.unit.config.kill if self.unit.config else None
            if kill is None or kill.send_sigkill:
                m.log.warning("%s: State '%s' timed out. Killing.", uid, st.value)
                self._enter_signal(S.STOP_SIGKILL, ServiceResult.TIMEOUT)
            else:
                m.log.warning("%s: State '%s' timed out. Skipping SIGKILL.", uid, st.value)
                self._enter_stop_post(ServiceResult.TIMEOUT)
        elif st is S.STOP_SIGKILL:
            m.log.warning("%s: Processes still around after SIGKILL. Ignoring.", uid)
            self._enter_stop_post(ServiceResult.TIMEOUT)
        elif st is S.STOP_POST:
            m.log.warning("%s: State 'stop-post' timed out. Terminating.", uid)
            self._enter_signal(S.FINAL_SIGTERM, ServiceResult.TIMEOUT)
        elif st in (S.FINAL_SIGTERM, S.FINAL_WATCHDOG):
            m.log.warning("%s: State '%s' timed out. Killing.", uid, st.value)
            self._enter_signal(S.FINAL_SIGKILL, ServiceResult.TIMEOUT)
        elif st is S.FINAL_SIGKILL:
            m.log.warning("%s: Processes still around after final SIGKILL. Entering failed mode.", uid)
            self._enter_dead(ServiceResult.TIMEOUT, allow_restart=True)

    # -- runtime limits and the watchdog --------------------------------------------------------

    def _arm_runtime_max(self) -> None:
        if self.cfg.runtime_max_usec not in (0, USEC_INFINITY):
            self.timer.arm(self.cfg.runtime_max_usec, self._on_timeout)

    def _watchdog_usec(self) -> int:
        return self.watchdog_usec_override or self.cfg.watchdog_usec

    def _start_watchdog(self) -> None:
        self._stop_watchdog()
        usec = self._watchdog_usec()
        if usec in (0, USEC_INFINITY):
            return
        self.watchdog_last = DualTimestamp.now()
        self._watchdog_timer = self.unit.manager.loop.call_later(usec / 1e6, self._on_watchdog)

    def _stop_watchdog(self) -> None:
        if self._watchdog_timer is not None:
            self._watchdog_timer.cancel()
            self._watchdog_timer = None

    def _on_watchdog(self) -> None:
        self._watchdog_timer = None
        self.unit.manager.log.error("%s: Watchdog timeout (limit %ss)!", self.unit.id,
                                    _fmt_sec(self._watchdog_usec()))
        self._enter_signal(S.STOP_WATCHDOG, ServiceResult.WATCHDOG)

    # -- Type=dbus -------------------------------------------------------------------------------

    def _watch_bus_name(self) -> None:
        name = self.cfg.bus_name
        if not name or self._bus_name_watched is not None:
            return
        self._bus_name_watched = name
        names = self.unit.manager.bus_names
        # Unknown is not "unowned": a restored service keeps what the previous core last heard.
        if names.owner(name) is not None:
            self.bus_name_good = True
        names.watch(name, self._bus_name_owner_changed)

    def _unwatch_bus_name(self) -> None:
        if self._bus_name_watched is not None:
            self.unit.manager.bus_names.unwatch(self._bus_name_watched, self._bus_name_owner_changed)
            self._bus_name_watched = None
        self.bus_name_good = False

    def _bus_name_owner_changed(self, owner: str | None) -> None:
        self.bus_name_good = owner is not None
        self.unit.manager.log.debug("%s: D-Bus name %s now %s", self.unit.id, self._bus_name_watched,
                                    f"owned by {owner}" if owner else "not owned by anyone")
        if self.type is not ServiceType.DBUS:
            return
        if self.state is S.START and owner:
            self._enter_start_post()
        elif self.state is S.RUNNING and not owner:
            self._enter_running()  # which stops the service: its name is gone

    # -- processes ------------------------------------------------------------------------------

    def _spawn(self, kind: str, cmd: ExecCommand) -> int | None:
        m = self.unit.manager
        env = {"SERVICE_RESULT": self._result.value} if kind in ("ExecStop", "ExecStopPost") else {}
        if kind in ("ExecStop", "ExecStopPost"):
            env.update(exit_environment(self.main_exec))
        if self.main_pid_:
            env["MAINPID"] = str(self.main_pid_)
        if self.notify_access is not NotifyAccess.NONE or self.type is ServiceType.NOTIFY:
            env["NOTIFY_SOCKET"] = m.runtime.notify_socket_path
        if self._watchdog_usec() and kind == "ExecStart":
            env["WATCHDOG_USEC"] = str(self._watchdog_usec())
        control = kind != "ExecStart"
        if control and self.cfg.permissions_start_only:  # as systemd: like a "+" command
            cmd = dataclasses.replace(cmd, flags=cmd.flags | ExecFlag.FULL_PRIVILEGES)
        pid = m.runtime.spawn(self.unit, cmd, env, wait_exec=kind == "ExecStart" and self.type is ServiceType.EXEC,
                      idle=kind == "ExecStart" and self.type is ServiceType.IDLE,
                      passed=self._passed_fds(main=kind == "ExecStart"), nonblocking=self.cfg.non_blocking,
                      chroot=not (control and self.cfg.root_directory_start_only))
        if pid is None:
            return None
        st = ExecStatus(start=DualTimestamp.now(), pid=pid)
        self.exec_status.setdefault(kind, []).append(st)
        if kind == "ExecStart" and self.type is not ServiceType.FORKING:
            self.main_exec = ExecStatus(start=st.start, pid=pid)
        return pid

    def _spawn_main(self, cmd: ExecCommand) -> int | None:
        pid = self._spawn("ExecStart", cmd)
        if pid is None:
            self._enter_signal(S.FINAL_SIGTERM, ServiceResult.RESOURCES)
            return None
        self._set_main_pid(pid)
        if self.type is not ServiceType.NOTIFY and self.watchdog_usec_override == 0 and self.cfg.watchdog_usec:
            self.watchdog_last = DualTimestamp.now()
        return pid

    def _set_main_pid(self, pid: int, alien: bool = False) -> None:
        self.main_pid_ = pid
        self.main_pid_known = True
        self.main_pid_alien = alien
        if alien:
            self.unit.manager.runtime.watch_pid(pid, self.unit)
        self.unit.manager.store_main_pid(self.unit, pid)

    def _run_control(self, kind: str, index: int, state: S, timeout_usec: int) -> None:
        cmds = self.commands(kind)
        self.control_kind, self.control_index = kind, index
        pid = self._spawn(kind, cmds[index])
        if pid is None:
            self._control_failed(kind, ServiceResult.RESOURCES)
            return
        self.control_pid_ = pid
        if self.state is not state or index == 0:
            self.timer.arm(timeout_usec, self._on_timeout)
        if self.state is not state:
            self._set_state(state)
        else:
            self.unit.notify_changed()

    def _control_failed(self, kind: str, result: ServiceResult) -> None:
        """A control command could not even be forked: fail the step it belonged to."""
        if kind == "ExecStartPost":
            self._enter_stop(result)
        elif kind == "ExecReload":
            self.reload_result = result
            self._enter_running(reload_success=False)
        elif kind == "ExecStop":
            self._enter_signal(S.STOP_SIGTERM, result)
        else:
            self._enter_signal(S.FINAL_SIGTERM, result)

    def _main_alive(self) -> bool:
        return self._running(self.main_pid_)

    def _control_alive(self) -> bool:
        return self._running(self.control_pid_)

    def _running(self, pid: int) -> bool:
        """Not yet seen to exit. A child that died but is not reaped yet still counts: its exit,
        with its status, is about to be handled and must not be missed."""
        return bool(pid) and self.unit.manager.runtime.is_tracked(pid)

    def _guess_main_pid(self) -> None:
        pid_file = self.cfg.pid_file
        if pid_file:
            try:
                with open(pid_file) as f:
                    pid = int(f.read().split()[0])
                if pid > 1 and process_alive(pid):
                    self._set_main_pid(pid, alien=True)
                    return
            except (OSError, ValueError, IndexError):
                self.unit.manager.log.warning("%s: Can't open PID file %s (yet?) after start: No such file "
                                              "or directory", self.unit.id, pid_file)
        if self.cfg.guess_main_pid:
            pids = [p for p in self.unit.manager.runtime.unit_pids(self.unit, self._roots()) if p != self.control_pid_]
            if len(pids) == 1:
                self._set_main_pid(pids[0], alien=True)

    def child_exited(self, pid: int, status: int) -> bool:
        code, st = describe_status(status)
        if pid == self.main_pid_:
            self.main_exec.exit = DualTimestamp.now()
            self.main_exec.code, self.main_exec.status = code, st
            self.main_exec.pid = pid
            self._record_exit("ExecStart", pid, code, st)
            self.main_pid_ = 0
            self._main_exited(code, st)
            return True
        if pid == self.control_pid_:
            self._record_exit(self.control_kind, pid, code, st)
            self.control_pid_ = 0
            self._control_exited(code, st)
            return True
        return False

    def _record_exit(self, kind: str, pid: int, code: int, status: int) -> None:
        for e in self.exec_status.get(kind, []):
            if e.pid == pid:
                e.exit, e.code, e.status = DualTimestamp.now(), code, status
        m = self.unit.manager
        what = "Main process" if kind == "ExecStart" and self.type is not ServiceType.FORKING else "Control process"
        text = f"{what} exited, {describe_exit(code, status)}"
        clean = self._is_success(code, status, clean_signals=self.type is not ServiceType.ONESHOT)
        m.log.log(logging.DEBUG if clean else logging.WARNING, "%s: %s", self.unit.id, text)
        if not clean:
            self.unit.log(f"{self.unit.id}: {text}")

    def _is_success(self, code: int, status: int, clean_signals: bool) -> bool:
        return is_success(code, status, self.cfg.success_exit_status, clean_signals)

    def _failure_result(self, code: int) -> ServiceResult:
        return {CLD_EXITED: ServiceResult.EXIT_CODE, CLD_KILLED: ServiceResult.SIGNAL,
                CLD_DUMPED: ServiceResult.CORE_DUMP}[code]

    def _main_exited(self, code: int, status: int) -> None:
        oneshot = self.type is ServiceType.ONESHOT
        ok = self._is_success(code, status, clean_signals=not oneshot)
        cmd_index = self.main_index
        cmds = self.commands("ExecStart")
        ignore = cmd_index < len(cmds) and cmds[cmd_index].ignore_failure
        result = ServiceResult.SUCCESS if ok or ignore else self._failure_result(code)
        st = self.state
        if oneshot and st is S.START:
            if result is ServiceResult.SUCCESS and cmd_index + 1 < len(cmds):
                self.main_index += 1
                self._spawn_main(cmds[self.main_index])
                return
            if result is ServiceResult.SUCCESS:
                self._enter_start_post()
            else:
                self._enter_signal(S.FINAL_SIGTERM, result)
            return
        if st is S.START:
            if self.type is ServiceType.NOTIFY and result is ServiceResult.SUCCESS and not self.notify_state_ready:
                # Exited cleanly without ever saying READY=1.
                result = ServiceResult.PROTOCOL
            if result is ServiceResult.SUCCESS and self.type is ServiceType.EXEC:
                self._enter_start_post()
                return
            self._enter_signal(S.FINAL_SIGTERM, result)
            return
        if st in (S.START_POST, S.RELOAD):
            if result is not ServiceResult.SUCCESS:
                self._result = result
            return  # decided when the control process finishes
        if st is S.RUNNING:
            if self.cfg.remain_after_exit and result is ServiceResult.SUCCESS:
                self._set_state(S.EXITED)
            else:
                self._enter_stop(result)
            return
        if st in _SIGNAL_STATES or st is S.STOP:
            if result is not ServiceResult.SUCCESS and st is not S.STOP and self._result is ServiceResult.SUCCESS \
                    and not self._stopping_by_request():
                self._result = result
            if st in _SIGNAL_STATES:
                self._poll_until_gone()
            return
        if st is S.STOP_POST:
            return

    def _stopping_by_request(self) -> bool:
        return self.forbid_restart

    def _control_exited(self, code: int, status: int) -> None:
        kind, index = self.control_kind, self.control_index
        cmds = self.commands(kind)
        ok = self._is_success(code, status, clean_signals=False)
        ignore = index < len(cmds) and cmds[index].ignore_failure
        st = self.state
        if kind == "ExecCondition" and not ok and code == CLD_EXITED and 0 < status < 255:
            self.unit.manager.log.info("%s: Skipped due to 'exec-condition'.", self.unit.id)
            self._result = ServiceResult.SKIP_CONDITION
            self.unit.condition_result = False
            self._enter_signal(S.FINAL_SIGTERM, ServiceResult.SKIP_CONDITION)
            return
        result = ServiceResult.SUCCESS if ok or ignore else self._failure_result(code)
        if result is ServiceResult.SUCCESS and index + 1 < len(cmds) and st in (
                S.CONDITION, S.START_PRE, S.START_POST, S.RELOAD, S.STOP, S.STOP_POST):
            self._run_control(kind, index + 1, st, 0)
            return
        if st is S.CONDITION:
            if result is ServiceResult.SUCCESS:
                self._enter_start_pre()
            else:
                self._enter_signal(S.FINAL_SIGTERM, result)
        elif st is S.START_PRE:
            if result is ServiceResult.SUCCESS:
                self._enter_start()
            else:
                self._enter_signal(S.FINAL_SIGTERM, result)
        elif st is S.START and self.type is ServiceType.FORKING:
            if result is ServiceResult.SUCCESS:
                self._guess_main_pid()
                self._enter_start_post()
            else:
                self._enter_signal(S.FINAL_SIGTERM, result)
        elif st is S.START_POST:
            if result is ServiceResult.SUCCESS and self._result is ServiceResult.SUCCESS:
                self._enter_running()
            else:
                self._enter_stop(result if result is not ServiceResult.SUCCESS else self._result)
        elif st is S.RELOAD:
            self.reload_result = result
            self._enter_running(reload_success=result is ServiceResult.SUCCESS)
        elif st is S.STOP:
            self._enter_signal(S.STOP_SIGTERM, result)
        elif st in _SIGNAL_STATES:
            self._poll_until_gone()
        elif st is S.STOP_POST:
            self._enter_signal(S.FINAL_SIGTERM, result)

    # -- sd_notify --------------------------------------------------------------------------

    def notify_message(self, pid: int, fields: dict[str, str], fds: list[int]) -> None:
        try:
            self._notify_fields(fields)
        finally:
            self._notify_fd_store(fields, fds)

    def _notify_fd_store(self, fields: dict[str, str], fds: list[int]) -> None:
        """FDSTOREREMOVE=1 (needs FDNAME=) or FDSTORE=1 (FDNAME= optional); fds not stored are closed."""
        name = fields.get("FDNAME")
        if fields.get("FDSTOREREMOVE") == "1":
            if name is None or not name_is_valid(name):
                self.unit.manager.log.warning("%s: FDSTOREREMOVE=1 requested, but no valid file descriptor name "
                                              "passed, ignoring.", self.unit.id)
            else:
                self.fd_store.remove(name)
        elif fields.get("FDSTORE") == "1":
            if name is not None and not name_is_valid(name):
                self.unit.manager.log.warning("%s: Passed FDNAME= name is invalid, ignoring.", self.unit.id)
                name = None
            self.fd_store.add(fds, name, poll=fields.get("FDPOLL") != "0", limit=self.cfg.file_descriptor_store_max)
            return
        for fd in fds:
            os.close(fd)

    def release_resources(self) -> None:
        self.fd_store.release()
        self.unit.manager.transient.release_stdio(self.unit.id)

    def _passed_fds(self, main: bool) -> PassedFds | None:
        """service_collect_fds(): the sockets' fds, then the fd store's, newest first."""
        passed = passed_fds(self.unit, main=main)
        if not main or not self.fd_store or (passed is not None and passed.names == ["connection"]):
            return passed
        out = passed or PassedFds()
        fds, names = self.fd_store.fds_and_names()
        return PassedFds(out.fds + fds, out.names + names, out.environment, n_storage=len(fds))

    def _notify_fields(self, fields: dict[str, str]) -> None:
        m = self.unit.manager
        if "MAINPID" in fields and self.state in (S.START, S.START_POST, S.RUNNING, S.RELOAD):
            try:
                new = int(fields["MAINPID"])
                if new > 1 and new != self.main_pid_ and process_alive(new):
                    self._set_main_pid(new, alien=True)
            except ValueError:
                m.log.warning("%s: Failed to parse MAINPID=%s field in notification message, ignoring.",
                              self.unit.id, fields["MAINPID"])
        changed = False
        if "STATUS" in fields:
            self.status_text = fields["STATUS"]
            changed = True
        if "ERRNO" in fields:
            try:
                self.status_errno = int(fields["ERRNO"])
                changed = True
            except ValueError:
                pass
        if fields.get("WATCHDOG") == "1":
            self.watchdog_last = DualTimestamp.now()
            if self.state is S.RUNNING:
                self._start_watchdog()
        elif fields.get("WATCHDOG") == "trigger":
            self._on_watchdog()
            return
        if "WATCHDOG_USEC" in fields:
            try:
                self.watchdog_usec_override = int(fields["WATCHDOG_USEC"])
                if self.state is S.RUNNING:
                    self._start_watchdog()
            except ValueError:
                pass
        if "EXTEND_TIMEOUT_USEC" in fields:
            try:
                self.timer.extend(int(fields["EXTEND_TIMEOUT_USEC"]))
            except ValueError:
                pass
        if fields.get("READY") == "1":
            self.notify_state_ready = True
            if self.type is ServiceType.NOTIFY and self.state is S.START:
                self._enter_start_post()
                return
            if self.state is S.RELOAD and self.type is ServiceType.NOTIFY:
                self._set_state(S.RUNNING)
                return
        if fields.get("RELOADING") == "1" and self.state is S.RUNNING:
            self.reload_result = ServiceResult.SUCCESS
            self._set_state(S.RELOAD)
            return
        if fields.get("STOPPING") == "1" and self.state in (S.RUNNING, S.RELOAD):
            self.forbid_restart = False
            self._set_state(S.STOP_SIGTERM)
            self.timer.arm(self.timeout_usec("stop"), self._on_timeout)
            return
        if changed:
            self.unit.notify_changed()

    def accepts_notify_from(self, pid: int, in_unit: bool) -> str | None:
        """None if NotifyAccess= allows the PID to speak for this service, else why not."""
        na = self.notify_access
        if na is NotifyAccess.NONE:
            return f"Got notification message from PID {pid}, but reception is disabled."
        if na is NotifyAccess.MAIN and pid != self.main_pid_:
            return (f"Got notification message from PID {pid}, but reception only permitted for main PID "
                    f"{self.main_pid_}")
        if na is NotifyAccess.EXEC and pid not in (self.main_pid_, self.control_pid_):
            return (f"Got notification message from PID {pid}, but reception only permitted for main PID and "
                    f"control PID")
        if na is NotifyAccess.ALL and not in_unit and pid not in (self.main_pid_, self.control_pid_):
            return f"Got notification message from PID {pid}, which is not in the unit."
        return None

    # -- persistence ------------------------------------------------------------------------

    def _start_of(self, pid: int) -> int | None:
        """Start time of one of our PIDs, read once: it identifies the process across PID reuse."""
        if not pid:
            return None
        if pid not in self._pid_starts:
            self._pid_starts = {p: t for p, t in self._pid_starts.items() if p in (self.main_pid_, self.control_pid_)}
            self._pid_starts[pid] = process_start_time(pid)
        return self._pid_starts[pid]

    def serialize(self) -> dict[str, Any]:
        return {
            "state": self.state.value, "result": self._result.value, "reload_result": self.reload_result.value,
            "main_pid": self.main_pid_, "main_pid_start": self._start_of(self.main_pid_),
            "main_pid_known": self.main_pid_known, "main_pid_alien": self.main_pid_alien,
            "control_pid": self.control_pid_, "control_pid_start": self._start_of(self.control_pid_),
            "control_kind": self.control_kind, "control_index": self.control_index, "main_index": self.main_index,
            "exec_status": {k: [e.to_list() for e in v] for k, v in self.exec_status.items()},
            "main_exec": self.main_exec.to_list(), "status_text": self.status_text,
            "status_errno": self.status_errno, "n_restarts": self.n_restarts, "forbid_restart": self.forbid_restart,
            "pending_restart": self._pending_restart,
            "notify_ready": self.notify_state_ready, "bus_name_good": self.bus_name_good,
            # CLOCK_MONOTONIC is system-wide: a later core re-arms the same instant (see resume()).
            "timer_deadline": self.timer.deadline if self.timer.armed else 0.0,
            "fd_store": self.fd_store.serialize(),
        }

    def deserialize(self, data: dict[str, Any]) -> None:
        try:
            self.state = S(data.get("state", "dead"))
            self._result = ServiceResult(data.get("result", "success"))
            self.reload_result = ServiceResult(data.get("reload_result", "success"))
        except ValueError:
            return
        self.main_pid_ = int(data.get("main_pid", 0))
        self.main_pid_known = bool(data.get("main_pid_known", False))
        self.main_pid_alien = bool(data.get("main_pid_alien", False))
        self.control_pid_ = int(data.get("control_pid", 0))
        self.control_kind = data.get("control_kind", "")
        self.control_index = int(data.get("control_index", 0))
        self.main_index = int(data.get("main_index", 0))
        self.exec_status = {k: [ExecStatus.from_list(e) for e in v] for k, v in data.get("exec_status", {}).items()}
        if data.get("main_exec"):
            self.main_exec = ExecStatus.from_list(data["main_exec"])
        self.status_text = data.get("status_text", "")
        self.status_errno = int(data.get("status_errno", 0))
        self.n_restarts = int(data.get("n_restarts", 0))
        self._pending_restart = bool(data.get("pending_restart", False))  # keeps the counter going
        self.forbid_restart = bool(data.get("forbid_restart", False))
        self.notify_state_ready = bool(data.get("notify_ready", False))
        self.bus_name_good = bool(data.get("bus_name_good", False))
        self.timer.deadline = float(data.get("timer_deadline", 0.0))  # re-armed by resume()
        self.fd_store.adopt(data.get("fd_store", []))
        for key, attr in (("main_pid_start", "main_pid_"), ("control_pid_start", "control_pid_")):
            pid = getattr(self, attr)
            if pid and (not process_alive(pid) or process_start_time(pid) != data.get(key)):
                setattr(self, attr, 0)

    def stored_pids(self, data: dict[str, Any]) -> dict[str, int]:
        return {"main": int(data.get("main_pid") or 0), "control": int(data.get("control_pid") or 0)}

    def give_back_pid(self, role: str, pid: int) -> None:
        if role == "main":
            self.main_pid_ = pid
        elif role == "control":
            self.control_pid_ = pid

    def adopt_interrupted_start(self, data: dict[str, Any], invocation: str) -> dict[str, Any] | None:
        from sysmasterd.core import recovery

        m, u = self.unit.manager, self.unit
        impl = dict(data.get("impl", {}))
        impl.update(result="success", main_index=0, control_index=0, timer_deadline=0.0, forbid_restart=False,
                    main_pid=0, main_pid_start=None, main_pid_known=False, main_pid_alien=False, control_pid=0,
                    control_pid_start=None)
        if self.type is ServiceType.FORKING:
            pid, start = recovery.pid_from_file(m, u, self.cfg.pid_file)
            if pid:  # the daemon is up: its PID file names it
                impl.update(state="running", main_pid=pid, main_pid_start=start, main_pid_known=True,
                            main_pid_alien=True)
            else:  # ExecStart= still runs: let it finish as the control process it is
                pid, start = recovery.oldest_in_cgroup(m, u)
                impl.update(state="start", control_pid=pid, control_pid_start=start, control_kind="ExecStart")
        else:
            pid, start = recovery.stored_main_pid(m, u)
            if not pid:
                pid, start = recovery.oldest_in_cgroup(m, u)
            impl.update(state=_STATE_WITH_MAIN.get(self.type, S.RUNNING).value, main_pid=pid, main_pid_start=start,
                        main_pid_known=True)
        if not pid:
            return None  # nothing runs: the restored job (if any) starts it afresh
        m.log.info("%s: start was interrupted by the core's death; adopting PID %d.", u.id, pid)
        return {**data, "invocation_id": invocation, "impl": impl}

    def resume(self) -> bool:
        """After a restore: re-arm the state's timer at its stored deadline (time spent without a
        core counts), the watchdog, and the wait for a signalled unit to empty. True if armed."""
        loop = self.unit.manager.loop
        deadline = self.timer.deadline
        usec = self._state_timeout_usec()
        if self.state is not S.AUTO_RESTART and usec in (0, USEC_INFINITY):
            deadline = 0.0  # this state runs no timer
        elif not deadline:
            deadline = loop.time() + usec / 1e6
        armed = False
        if deadline and not self.timer.armed:  # an exit fed during recovery may have armed one already
            self.timer.arm_at(deadline, self._on_restart_timer if self.state is S.AUTO_RESTART else self._on_timeout)
            armed = True
        if self.type is ServiceType.DBUS and self.state in (S.START, S.START_POST, S.RUNNING, S.RELOAD):
            self._watch_bus_name()
        if self.state is S.RUNNING:
            self._start_watchdog()
        elif self.state is S.START and self.type is ServiceType.EXEC and self._main_alive():
            self._enter_start_post()  # the exec() report pipe went with the old core
        self._poll_until_gone()
        return armed

    def _state_timeout_usec(self) -> int:
        if self.state is S.AUTO_RESTART:
            return self.restart_usec()
        if self.state in _STARTING or self.state is S.RELOAD:
            return self.timeout_usec("start")
        if self.state in _WATCHDOG_STATES:
            return self.timeout_usec("abort")
        if self.state in _STOPPING:
            return self.timeout_usec("stop")
        return self.cfg.runtime_max_usec if self.state is S.RUNNING else 0


TYPE = TypeDescriptor(UnitKind.SERVICE, Service, "org.freedesktop.systemd1.Service",
                      Context.EXEC | Context.KILL | Context.CGROUP)


def _state_verb(st: S) -> str:
    return {S.CONDITION: "Condition check", S.START_PRE: "Start-pre", S.START: "Start",
            S.START_POST: "Start-post"}.get(st, st.value)


def _fmt_sec(usec: int) -> str:
    return f"{usec / 1e6:g}"

