"""Scope units (systemd's scope.c): processes the manager did not start, grouped in a cgroup.

init.scope, in the root slice, holds the manager itself and is perpetual. Every other scope is
made by a client (StartTransientUnit with PIDs=, as `systemd-run --scope` does): starting it moves
those PIDs into its cgroup; it runs until its cgroup is empty (it dies `dead`, or `failed` when
stopping took SIGKILL); stop signals its processes (KillMode=), escalating after TimeoutStopSec=.
AbandonScope() leaves the processes to themselves (`abandoned`) until they are gone.

The processes are not our children: each is watched through a pidfd, and when one ends the cgroup
is read again so that the processes it left behind are watched in turn.
"""

from __future__ import annotations

import enum
import os
from typing import TYPE_CHECKING, Any

from compat.model import OOMPolicy, UnitKind
from compat.values import parse_sec_fix_0
from sysmasterd.core.cgroup import INIT_SCOPE, process_alive, send_signal
from sysmasterd.core.kill import KillPhase, kill_unit
from sysmasterd.core.states import ActiveState
from sysmasterd.core.statetimer import StateTimer
from sysmasterd.core.unittype import Context, KillWho, OpResult, TypeDescriptor
from sysmasterd.units.passive import Passive

if TYPE_CHECKING:
    from sysmasterd.core.manager import Manager
    from sysmasterd.core.unit import Unit


# Bounds the re-reads of a cgroup whose processes keep forking and dying while it is read.
_SCAN_ROUNDS = 100


class S(enum.Enum):
    DEAD = "dead"
    RUNNING = "running"
    ABANDONED = "abandoned"
    STOP_SIGTERM = "stop-sigterm"
    STOP_SIGKILL = "stop-sigkill"
    FAILED = "failed"


_ACTIVE = {S.DEAD: ActiveState.INACTIVE, S.RUNNING: ActiveState.ACTIVE, S.ABANDONED: ActiveState.ACTIVE,
           S.STOP_SIGTERM: ActiveState.DEACTIVATING, S.STOP_SIGKILL: ActiveState.DEACTIVATING,
           S.FAILED: ActiveState.FAILED}


class Scope(Passive):
    def __init__(self, unit: Unit) -> None:
        super().__init__(unit)
        self.state = S.DEAD
        self.result_ = "success"
        self.timer = StateTimer(unit.manager.loop)
        self.watched: set[int] = set()

    # -- state -------------------------------------------------------------------------------------

    def active_state(self) -> ActiveState:
        if self.unit.perpetual:  # init.scope
            return ActiveState.ACTIVE if self.active else ActiveState.INACTIVE
        return _ACTIVE[self.state]

    def sub_state(self) -> str:
        if self.unit.perpetual:
            return "running" if self.active else "dead"
        return self.state.value

    def result(self) -> str:
        return self.result_

    def _set_state(self, state: S) -> None:
        self.state = state
        if state not in (S.STOP_SIGTERM, S.STOP_SIGKILL):
            self.timer.cancel()
        self.unit.notify()

    # -- operations --------------------------------------------------------------------------------

    def start(self) -> OpResult:
        if self.unit.perpetual:
            return super().start()
        m = self.unit.manager
        if not self.unit.transient:
            return OpResult.UNSUPPORTED  # a scope is made by its client, never from a file alone
        if self.state in (S.STOP_SIGTERM, S.STOP_SIGKILL):
            return OpResult.AGAIN
        pids = m.transient.start_pids.pop(self.unit.id, [])
        if not self.unit.test_start_limit():
            self.result_ = "start-limit-hit"
            self._set_state(S.FAILED)
            return OpResult.FAILED
        self.result_ = "success"
        self.unit.new_invocation()
        if m.state_export is not None:
            m.state_export.export(self.unit)
        attach_pids(self.unit, pids)
        if not self._scan():
            m.log.warning("%s: No PIDs left to attach to the scope's control group, refusing.", self.unit.id)
            self.result_ = "resources"
            self._set_state(S.FAILED)
            return OpResult.FAILED
        self._set_state(S.RUNNING)
        return OpResult.STARTED

    def stop(self) -> OpResult:
        if self.unit.perpetual:
            return OpResult.ALREADY
        if self.state in (S.STOP_SIGTERM, S.STOP_SIGKILL):
            return OpResult.STARTED
        self._enter_signal(S.STOP_SIGTERM)
        return OpResult.STARTED

    def abandon(self) -> None:
        """AbandonScope(): the client lets go; the processes live on in the scope until they end."""
        self.unit.manager.transient.refs.pop(self.unit.id, None)
        self._set_state(S.ABANDONED)

    def kill(self, who: KillWho, signo: int) -> list[int]:
        if who is not KillWho.ALL:
            return []
        return [p for p in self._pids() if send_signal(p, signo)]

    def reset_failed(self) -> None:
        if self.state is S.FAILED:
            self.state = S.DEAD
        self.result_ = "success"

    # -- stopping ----------------------------------------------------------------------------------

    def _enter_signal(self, state: S) -> None:
        phase = KillPhase.TERMINATE if state is S.STOP_SIGTERM else KillPhase.KILL
        if kill_unit(self.unit, phase, sorted(self._pids())) and self._scan():
            self.state = state
            self.timer.arm(self.stop_timeout(), self._on_timeout)
            self.unit.notify()
            return
        self._enter_dead()

    def _on_timeout(self) -> None:
        m = self.unit.manager
        if self.state is S.STOP_SIGTERM:
            m.log.warning("%s: Stopping timed out. Killing.", self.unit.id)
            self.result_ = "timeout"
            self._enter_signal(S.STOP_SIGKILL)
        else:
            m.log.warning("%s: Still around after SIGKILL. Ignoring.", self.unit.id)
            self.result_ = "timeout"
            self._enter_dead()

    def oom_policy(self) -> OOMPolicy:
        """OOMPolicy=, else continue with Delegate=, else the manager's DefaultOOMPolicy=."""
        cfg = self.unit.config
        for value in reversed(cfg.raw_type_section.get("OOMPolicy", []) if cfg else []):
            try:
                return OOMPolicy(value)
            except ValueError:
                continue
        if cfg is not None and cfg.cgroup.delegate:
            return OOMPolicy.CONTINUE
        return self.unit.manager.settings.default_oom_policy

    def notify_cgroup_oom(self) -> None:
        """systemd's scope_notify_cgroup_oom_event(): stop (kill has had the kernel take the group)."""
        if self.oom_policy() is OOMPolicy.CONTINUE or self.state not in (S.RUNNING, S.STOP_SIGTERM, S.STOP_SIGKILL):
            return
        if self.result_ == "success":
            self.result_ = "oom-kill"
        if self.state is not S.STOP_SIGKILL:
            self._enter_signal(S.STOP_SIGTERM if self.state is S.RUNNING else S.STOP_SIGKILL)

    def stop_timeout(self) -> int:
        raw = self.unit.config.raw_type_section.get("TimeoutStopSec", []) if self.unit.config else []
        if raw and raw[-1]:
            try:
                return parse_sec_fix_0(raw[-1])
            except ValueError:
                pass
        return self.unit.manager.settings.default_timeout_stop_usec

    def _enter_dead(self) -> None:
        for pid in list(self.watched):
            self.unit.manager.runtime.watched.pop(pid, None)
        self.watched.clear()
        self.unit.manager.runtime.cgroup_cleanup(self.unit)
        self._set_state(S.DEAD if self.result_ == "success" else S.FAILED)

    # -- the processes -----------------------------------------------------------------------------

    def _pids(self) -> set[int]:
        runtime = self.unit.manager.runtime
        return {p for p in runtime.unit_pids(self.unit, sorted(self.watched)) if p != os.getpid()}

    def _scan(self) -> bool:
        """Watch every process of the scope; False when none is left."""
        runtime = self.unit.manager.runtime
        alive: set[int] = set()
        for _ in range(_SCAN_ROUNDS):
            alive = {p for p in self._pids() | self.watched if process_alive(p)}
            for pid in alive - self.watched:
                runtime.watch_pid(pid, self.unit)
                if not process_alive(pid):  # gone before its pidfd was opened: no exit will be reported
                    runtime.watched.pop(pid, None)
            self.watched = {p for p in alive if runtime.is_tracked(p)}
            # A process that ended between reading the cgroup and opening its pidfd may have left
            # children: read again until every process found is watched.
            if self.watched == alive:
                break
        return bool(alive)

    def pids(self) -> dict[str, int]:
        return {}

    def child_exited(self, pid: int, status: int) -> bool:
        if pid not in self.watched:
            return False
        self.watched.discard(pid)
        if self.state in (S.DEAD, S.FAILED) or self._scan():
            return True
        # The cgroup is empty (systemd's scope_notify_cgroup_empty_event).
        self._enter_dead()
        return True

    # -- persistence -------------------------------------------------------------------------------

    def serialize(self) -> dict[str, Any]:
        return {"active": self.active, "state": self.state.value, "result": self.result_}

    def deserialize(self, data: dict[str, Any]) -> None:
        super().deserialize(data)
        try:
            self.state = S(data.get("state", "dead"))
        except ValueError:
            self.state = S.DEAD
        self.result_ = str(data.get("result", "success"))

    def resume(self) -> bool:
        if self.unit.perpetual or self.state in (S.DEAD, S.FAILED):
            return False
        if not self._scan():
            self._enter_dead()
        elif self.state in (S.STOP_SIGTERM, S.STOP_SIGKILL):
            self.timer.arm(self.stop_timeout(), self._on_timeout)
        return False


def attach_pids(u: Unit, pids: list[int], subcgroup: str = "") -> list[int]:
    """Move processes into the unit's cgroup (or a sub-cgroup of it); the PIDs that could not be moved."""
    m = u.manager
    if m.cgroups is None or not m.cgroups.enabled:
        return []
    procs = m.cgroups.create(u.id)
    if procs is None:
        return list(pids)
    if subcgroup:
        directory = os.path.join(os.path.dirname(procs), subcgroup.strip("/"))
        os.makedirs(directory, exist_ok=True)
        procs = os.path.join(directory, "cgroup.procs")
    failed = []
    for pid in pids:
        try:
            with open(procs, "w") as f:
                f.write(str(pid))
        except OSError as e:
            m.log.warning("%s: Failed to attach PID %d to the control group: %s", u.id, pid, e.strerror)
            failed.append(pid)
            continue
        for extra in m.cgroups.controller_procs(u.id):  # its resource controllers, best effort
            try:
                with open(extra, "w") as f:
                    f.write(str(pid))
            except OSError as e:
                m.log.debug("%s: Failed to attach PID %d to %s: %s", u.id, pid, extra, e.strerror)
    return failed


def make_init_scope(m: Manager) -> None:
    """init.scope, in the root slice, holding the manager: when the manager owns its cgroup tree
    (it is the scope's real manager), init and the core move into it, as systemd's PID 1 does."""
    u = m.load_unit(INIT_SCOPE)
    u.make_perpetual("System and Service Manager")
    if m.cgroups is not None and m.cgroups.enabled and m.settings.owns_cgroup_root:
        procs = m.cgroups.create(INIT_SCOPE)
        for pid in {1, os.getpid()} if m.is_system else {os.getpid()}:
            try:
                with open(procs or "", "w") as f:
                    f.write(str(pid))
            except OSError as e:
                m.log.warning("Failed to move PID %d into %s: %s", pid, INIT_SCOPE, e.strerror)


TYPE = TypeDescriptor(UnitKind.SCOPE, Scope, "org.freedesktop.systemd1.Scope", Context.CGROUP | Context.KILL,
                      enumerate=make_init_scope, ignored_on_isolate=True)
