"""Socket units: the state machine of systemd's socket.c. Listening fds are opened at start (after
ExecStartPre=), watched on the loop while listening, and an incoming connection or datagram
starts the service (Accept=no) or a new per-connection instance (Accept=yes).

The fds are also handed to sysmaster-init (when the core runs under it) under ``socket:<unit>``,
so that a core killed at any instant comes back holding the very same listening sockets: nothing
that arrives meanwhile is lost, the kernel queues it."""

from __future__ import annotations

import contextlib
import enum
import grp
import os
import pwd
import socket
from typing import TYPE_CHECKING, Any

from compat.config_socket import ListenPort, SocketSection, service_name
from compat.model import ExecCommand, ExitStatusSet, JobMode, StdInput, StdOutput, UnitKind
from sysmasterd.core import errors
from sysmasterd.core.clock import DualTimestamp
from sysmasterd.core.control import CLD_EXITED, CLD_KILLED, ExecStatus, describe_exit, is_success
from sysmasterd.core.dependency import Dep
from sysmasterd.core.execute import PassedFds, describe_status
from sysmasterd.core.kill import KillPhase, group_settled
from sysmasterd.core.ratelimit import RateLimit
from sysmasterd.core.states import ActiveState, JobType, LoadState
from sysmasterd.core.unittype import Context, OpResult, TypeDescriptor
from sysmasterd.units import socketports
from sysmasterd.units.controlled import POLL_EMPTY_SEC, ControlledType
from sysmasterd.units.triggering import hit_start_limit, stop_pending

if TYPE_CHECKING:
    import asyncio

    from sysmasterd.core.unit import Unit


class SocketState(enum.Enum):
    DEAD = "dead"
    START_PRE = "start-pre"
    START_CHOWN = "start-chown"
    START_POST = "start-post"
    LISTENING = "listening"
    RUNNING = "running"
    STOP_PRE = "stop-pre"
    STOP_PRE_SIGTERM = "stop-pre-sigterm"
    STOP_PRE_SIGKILL = "stop-pre-sigkill"
    STOP_POST = "stop-post"
    FINAL_SIGTERM = "final-sigterm"
    FINAL_SIGKILL = "final-sigkill"
    FAILED = "failed"
    CLEANING = "cleaning"


class SocketResult(enum.Enum):
    SUCCESS = "success"
    RESOURCES = "resources"
    TIMEOUT = "timeout"
    EXIT_CODE = "exit-code"
    SIGNAL = "signal"
    CORE_DUMP = "core-dump"
    START_LIMIT_HIT = "start-limit-hit"
    TRIGGER_LIMIT_HIT = "trigger-limit-hit"
    SERVICE_START_LIMIT_HIT = "service-start-limit-hit"


S = SocketState
_ACTIVE_STATE = {
    S.DEAD: ActiveState.INACTIVE, S.START_PRE: ActiveState.ACTIVATING, S.START_CHOWN: ActiveState.ACTIVATING,
    S.START_POST: ActiveState.ACTIVATING, S.LISTENING: ActiveState.ACTIVE, S.RUNNING: ActiveState.ACTIVE,
    S.STOP_PRE: ActiveState.DEACTIVATING, S.STOP_PRE_SIGTERM: ActiveState.DEACTIVATING,
    S.STOP_PRE_SIGKILL: ActiveState.DEACTIVATING, S.STOP_POST: ActiveState.DEACTIVATING,
    S.FINAL_SIGTERM: ActiveState.DEACTIVATING, S.FINAL_SIGKILL: ActiveState.DEACTIVATING,
    S.FAILED: ActiveState.FAILED, S.CLEANING: ActiveState.MAINTENANCE,
}  # fmt: skip
_STARTING = (S.START_PRE, S.START_CHOWN, S.START_POST)
_STOPPING = (S.STOP_PRE, S.STOP_PRE_SIGTERM, S.STOP_PRE_SIGKILL, S.STOP_POST, S.FINAL_SIGTERM, S.FINAL_SIGKILL)
_SIGNAL_STATES = (S.STOP_PRE_SIGTERM, S.STOP_PRE_SIGKILL, S.FINAL_SIGTERM, S.FINAL_SIGKILL)
# States in which the fds are open (socket_set_state closes them in all others).
_FDS_OPEN = (S.START_CHOWN, S.START_POST, S.LISTENING, S.RUNNING, S.STOP_PRE, S.STOP_PRE_SIGTERM,
             S.STOP_PRE_SIGKILL, S.CLEANING)
_TIMED = (*_STARTING, *_STOPPING, S.CLEANING)
EXEC_KINDS = ("ExecStartPre", "ExecStartPost", "ExecStopPre", "ExecStopPost")
EXEC_FIELDS = {"ExecStartPre": "exec_start_pre", "ExecStartPost": "exec_start_post",
                "ExecStopPre": "exec_stop_pre", "ExecStopPost": "exec_stop_post"}
FD_STORE_PREFIX = "socket:"


class Socket(ControlledType[SocketState, SocketResult]):
    ACTIVE_STATE = _ACTIVE_STATE

    def __init__(self, unit: Unit) -> None:
        super().__init__(unit, SocketState, SocketResult)
        self.control_index = 0
        self.exec_status: dict[str, list[ExecStatus]] = {}
        self.ports: list[ListenPort] = []  # what the open fds listen on, in order
        self.fds: list[int] = []
        self._watched: list[int] = []
        self.n_accepted = 0
        self.n_refused = 0
        # Accept=yes: the connection of each running instance, and its peer for MaxConnectionsPerSource=.
        self.connections: dict[str, int] = {}
        self._peers: dict[str, str] = {}
        self.trigger_limit = RateLimit()
        self._deferred: asyncio.Handle | None = None

    # -- configuration --------------------------------------------------------------------------

    @property
    def cfg(self) -> SocketSection:
        c = self.unit.config
        return c.socket if c is not None and c.socket is not None else SocketSection()

    def commands(self, kind: str) -> list[ExecCommand]:
        cmds: list[ExecCommand] = getattr(self.cfg, EXEC_FIELDS[kind])
        return cmds

    def timeout_usec(self) -> int:
        t = self.cfg.timeout_usec
        return t if t is not None else self.unit.manager.settings.default_timeout_start_usec

    def fd_name(self) -> str:
        return self.cfg.file_descriptor_name or self.unit.id

    def service(self) -> Unit | None:
        """The unit an Accept=no socket activates (loaded), or None for Accept=yes."""
        if self.unit.config is None:
            return None
        name = service_name(self.unit.config)
        return self.unit.manager.load_unit(name) if name else None

    @property
    def n_connections(self) -> int:
        return len(self.connections)

    # -- UnitType interface ---------------------------------------------------------------------

    def add_implicit_dependencies(self) -> None:
        """socket_add_extras(): the service comes after the socket and is triggered by it."""
        if self.unit.config is None:
            return
        name = service_name(self.unit.config)
        if name:
            m = self.unit.manager
            m.add_dependency(self.unit, Dep.BEFORE, name)
            m.add_dependency(self.unit, Dep.TRIGGERS, name)

    def add_default_dependencies(self) -> None:
        m, u = self.unit.manager, self.unit
        m.add_dependency(u, Dep.BEFORE, "sockets.target")
        if m.is_system:
            m.add_dependency(u, Dep.AFTER, "sysinit.target")
            m.add_dependency(u, Dep.REQUIRES, "sysinit.target")
        m.add_dependency(u, Dep.BEFORE, "shutdown.target")
        m.add_dependency(u, Dep.CONFLICTS, "shutdown.target")

    def start(self) -> OpResult:
        if self.state in _STOPPING or self.state is S.CLEANING:
            return OpResult.AGAIN
        if self.state in _STARTING:
            return OpResult.STARTED
        m = self.unit.manager
        svc = self.service()
        if svc is not None:
            if svc.load_state is not LoadState.LOADED:
                m.log.error("%s: Socket service %s not loaded, refusing.", self.unit.id, svc.id)
                return OpResult.FAILED
            if not svc.active_state.is_inactive_or_failed() and svc.sub_state != "auto-restart":
                m.log.error("%s: Socket service %s already active, refusing.", self.unit.id, svc.id)
                return OpResult.FAILED
        if not self.unit.test_start_limit():
            self._result = SocketResult.START_LIMIT_HIT
            self._set_state(S.FAILED)
            return OpResult.FAILED
        self._result = SocketResult.SUCCESS
        self.exec_status = {}
        self.unit.new_invocation()
        self._enter_start_pre()
        return OpResult.STARTED

    def stop(self) -> OpResult:
        if self.state in _STOPPING:
            return OpResult.STARTED
        if self.state in _STARTING:
            self._enter_signal(S.STOP_PRE_SIGTERM, SocketResult.SUCCESS)
            return OpResult.STARTED
        if self.state in (S.LISTENING, S.RUNNING):
            self._enter_stop_pre(SocketResult.SUCCESS)
            return OpResult.STARTED
        return OpResult.ALREADY

    # -- state machine --------------------------------------------------------------------------

    def _set_state(self, state: S) -> None:
        old = self.state
        self.state = state
        if state not in _TIMED:
            self.timer.cancel()
            self.control_kind = ""
        if state is not S.LISTENING:
            self._unwatch()
        if state not in _FDS_OPEN:
            self._close_fds()
        if state in (S.DEAD, S.FAILED):
            self.unit.manager.runtime.cgroup_cleanup(self.unit)
        self._log_change(old)
        self.unit.notify()

    def _enter_start_pre(self) -> None:
        if self.commands("ExecStartPre"):
            self._run_control("ExecStartPre", 0, S.START_PRE)
        else:
            self._enter_start_chown()

    def _enter_start_chown(self) -> None:
        try:
            self._open_fds()
        except OSError as e:
            self.unit.manager.log.warning("%s: Failed to listen on sockets: %s", self.unit.id, e.strerror or e)
            self._enter_stop_pre(SocketResult.RESOURCES)
            return
        if self.cfg.socket_user or self.cfg.socket_group:
            # systemd forks a helper for the NSS lookups; ours are done in place and the state is
            # entered only for the record.
            self._set_state(S.START_CHOWN)
            if not self._chown():
                self._enter_stop_pre(SocketResult.EXIT_CODE)
                return
        self._enter_start_post()

    def _enter_start_post(self) -> None:
        if self.commands("ExecStartPost"):
            self._run_control("ExecStartPost", 0, S.START_POST)
        else:
            self._enter_listening()

    def _enter_listening(self) -> None:
        if not self.cfg.accept and self.cfg.flush_pending:
            self._flush()
        self._watch()
        self._set_state(S.LISTENING)

    def _enter_stop_pre(self, result: SocketResult) -> None:
        if self._result is SocketResult.SUCCESS:
            self._result = result
        if self.commands("ExecStopPre"):
            self._run_control("ExecStopPre", 0, S.STOP_PRE)
        else:
            self._enter_stop_post(SocketResult.SUCCESS)

    def _enter_stop_post(self, result: SocketResult) -> None:
        if self._result is SocketResult.SUCCESS:
            self._result = result
        if self.commands("ExecStopPost"):
            self._run_control("ExecStopPost", 0, S.STOP_POST)
        else:
            self._enter_signal(S.FINAL_SIGTERM, SocketResult.SUCCESS)

    def _enter_signal(self, state: S, result: SocketResult) -> None:
        phase = KillPhase.TERMINATE if state in (S.STOP_PRE_SIGTERM, S.FINAL_SIGTERM) else KillPhase.KILL
        if self._kill_phase(state, result, phase):
            return
        if state is S.STOP_PRE_SIGTERM:
            self._enter_signal(S.STOP_PRE_SIGKILL, SocketResult.SUCCESS)
        elif state is S.STOP_PRE_SIGKILL:
            self._enter_stop_post(SocketResult.SUCCESS)
        elif state is S.FINAL_SIGTERM:
            self._enter_signal(S.FINAL_SIGKILL, SocketResult.SUCCESS)
        else:
            self._enter_dead(SocketResult.SUCCESS)

    def _poll_until_gone(self) -> None:
        """While signalled processes linger, check now and then whether the unit is empty."""
        if self.state not in _SIGNAL_STATES:
            return
        if not self._control_running() and group_settled(self.unit):
            self._after_control(SocketResult.SUCCESS)
            return
        self.unit.manager.loop.call_later(POLL_EMPTY_SEC, self._poll_until_gone)

    def _after_control(self, f: SocketResult) -> None:
        """The step's commands are done (or the signalled processes gone): what comes next."""
        st = self.state
        if st is S.START_PRE:
            if f is SocketResult.SUCCESS:
                self._enter_start_chown()
            else:
                self._enter_signal(S.FINAL_SIGTERM, f)
        elif st is S.START_POST:
            if f is SocketResult.SUCCESS:
                self._enter_listening()
            else:
                self._enter_stop_pre(f)
        elif st in (S.STOP_PRE, S.STOP_PRE_SIGTERM, S.STOP_PRE_SIGKILL):
            self._enter_stop_post(f)
        elif st in (S.STOP_POST, S.FINAL_SIGTERM, S.FINAL_SIGKILL):
            self._enter_dead(f)

    def _on_timeout(self) -> None:
        m, uid, st = self.unit.manager, self.unit.id, self.state
        sigkill = self._send_sigkill()
        if st is S.START_PRE:
            m.log.warning("%s: Starting timed out. Terminating.", uid)
            self._enter_signal(S.FINAL_SIGTERM, SocketResult.TIMEOUT)
        elif st in (S.START_CHOWN, S.START_POST):
            m.log.warning("%s: Starting timed out. Stopping.", uid)
            self._enter_stop_pre(SocketResult.TIMEOUT)
        elif st is S.STOP_PRE:
            m.log.warning("%s: Stopping timed out. Terminating.", uid)
            self._enter_signal(S.STOP_PRE_SIGTERM, SocketResult.TIMEOUT)
        elif st is S.STOP_PRE_SIGTERM:
            if sigkill:
                m.log.warning("%s: Stopping timed out. Killing.", uid)
                self._enter_signal(S.STOP_PRE_SIGKILL, SocketResult.TIMEOUT)
            else:
                m.log.warning("%s: Stopping timed out. Skipping SIGKILL. Ignoring.", uid)
                self._enter_stop_post(SocketResult.TIMEOUT)
        elif st is S.STOP_PRE_SIGKILL:
            m.log.warning("%s: Processes still around after SIGKILL. Ignoring.", uid)
            self._enter_stop_post(SocketResult.TIMEOUT)
        elif st is S.STOP_POST:
            m.log.warning("%s: Stopping timed out (2). Terminating.", uid)
            self._enter_signal(S.FINAL_SIGTERM, SocketResult.TIMEOUT)
        elif st is S.FINAL_SIGTERM:
            if sigkill:
                m.log.warning("%s: Stopping timed out (2). Killing.", uid)
                self._enter_signal(S.FINAL_SIGKILL, SocketResult.TIMEOUT)
            else:
                m.log.warning("%s: Stopping timed out (2). Skipping SIGKILL. Ignoring.", uid)
                self._enter_dead(SocketResult.TIMEOUT)
        elif st is S.FINAL_SIGKILL:
            m.log.warning("%s: Still around after SIGKILL (2). Entering failed mode.", uid)
            self._enter_dead(SocketResult.TIMEOUT)

    # -- control processes ----------------------------------------------------------------------

    def _run_control(self, kind: str, index: int, state: S) -> None:
        self.control_kind, self.control_index = kind, index
        cmd = self.commands(kind)[index]
        pid = self.unit.manager.runtime.spawn(self.unit, cmd, {})
        if pid is None:
            self.unit.manager.log.warning("%s: Failed to run '%s' task.", self.unit.id, _task(kind))
            self._control_spawn_failed(kind)
            return
        self.control_pid_ = pid
        self.exec_status.setdefault(kind, []).append(ExecStatus(start=DualTimestamp.now(), pid=pid))
        self.timer.arm(self.timeout_usec(), self._on_timeout)
        if self.state is not state:
            self._set_state(state)
            self.control_kind, self.control_index = kind, index
        else:
            self.unit.notify_changed()

    def _control_spawn_failed(self, kind: str) -> None:
        r = SocketResult.RESOURCES
        if kind == "ExecStartPre":
            self._enter_dead(r)
        elif kind == "ExecStartPost":
            self._enter_stop_pre(r)
        elif kind == "ExecStopPre":
            self._enter_stop_post(r)
        else:
            self._enter_signal(S.FINAL_SIGTERM, r)

    def child_exited(self, pid: int, status: int) -> bool:
        if pid != self.control_pid_ or not pid:
            return False
        code, st = describe_status(status)
        self.control_pid_ = 0
        kind, index = self.control_kind, self.control_index
        cmds = self.commands(kind) if kind else []
        for e in self.exec_status.get(kind, []):
            if e.pid == pid:
                e.exit, e.code, e.status = DualTimestamp.now(), code, st
        ok = is_success(code, st, ExitStatusSet(), clean_signals=False)  # socket commands: exit 0 only
        ignore = index < len(cmds) and cmds[index].ignore_failure
        f = SocketResult.SUCCESS if ok or ignore else (
            SocketResult.EXIT_CODE if code == CLD_EXITED else
            SocketResult.SIGNAL if code == CLD_KILLED else SocketResult.CORE_DUMP)
        m = self.unit.manager
        text = f"Control process exited, {describe_exit(code, st)}"
        if f is SocketResult.SUCCESS:
            m.log.debug("%s: %s", self.unit.id, text)
        else:
            m.log.warning("%s: %s", self.unit.id, text)
            self.unit.log(f"{self.unit.id}: {text}")
        if self._result is SocketResult.SUCCESS:
            self._result = f
        if f is SocketResult.SUCCESS and index + 1 < len(cmds):
            self._run_control(kind, index + 1, self.state)
            return True
        self.control_kind = ""
        if self.state in _SIGNAL_STATES:
            self._poll_until_gone()
        else:
            self._after_control(f)
        return True

    def _chown(self) -> bool:
        uid = gid = -1
        m = self.unit.manager
        try:
            if self.cfg.socket_user:
                pw = pwd.getpwnam(self.cfg.socket_user) if not self.cfg.socket_user.isdigit() else pwd.getpwuid(
                    int(self.cfg.socket_user))
                uid, gid = pw.pw_uid, pw.pw_gid
            if self.cfg.socket_group:
                g = self.cfg.socket_group
                gid = int(g) if g.isdigit() else grp.getgrnam(g).gr_gid
        except (KeyError, ValueError):
            m.log.error("%s: Failed to resolve user/group %s/%s", self.unit.id, self.cfg.socket_user,
                        self.cfg.socket_group)
            return False
        for p in self.ports:
            if p.fs_path and p.kind != "Special":
                try:
                    os.chown(p.fs_path, uid, gid)
                except OSError as e:
                    m.log.error("%s: Failed to chown(): %s", self.unit.id, e.strerror)
                    return False
        return True

    # -- the fds --------------------------------------------------------------------------------

    def _store_name(self) -> str:
        return FD_STORE_PREFIX + self.unit.id

    def _open_fds(self) -> None:
        cfg, m = self.cfg, self.unit.manager

        def warn(text: str) -> None:
            m.log.warning("%s: %s", self.unit.id, text)

        self.ports = list(cfg.ports)
        self.fds = []
        try:
            for p in self.ports:
                fd = socketports.open_port(p, cfg, warn)
                self.fds.append(fd)
                socketports.apply_options(fd, p, cfg, warn)
        except OSError:
            self._close_fds()
            raise
        nodes = [p.fs_path for p in self.ports if p.fs_path and p.kind != "Special"]
        if cfg.symlinks and len(nodes) == 1:
            socketports.make_symlinks(nodes[0], cfg.symlinks, cfg, warn)
        holder = m.runtime.fd_holder
        if holder is not None:
            holder.store_fds(self._store_name(), self.fds)

    def _close_fds(self) -> None:
        if not self.fds:
            return
        self._unwatch()
        for fd in self.fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self.fds = []
        holder = self.unit.manager.runtime.fd_holder
        if holder is not None:
            holder.remove_fds(self._store_name())
        if self.cfg.remove_on_stop:
            socketports.remove_nodes(self.ports, self.cfg.symlinks)

    def _watch(self) -> None:
        loop = self.unit.manager.loop
        for i, fd in enumerate(self.fds):
            if fd not in self._watched:
                loop.add_reader(fd, self._on_io, i)
                self._watched.append(fd)

    def _unwatch(self) -> None:
        loop = self.unit.manager.loop
        for fd in self._watched:
            loop.remove_reader(fd)
        self._watched = []

    def _flush(self) -> None:
        """FlushPending=: drop queued connections and data, so that old traffic does not trigger."""
        for p, fd in zip(self.ports, self.fds, strict=False):
            if not p.is_socket:
                continue
            s = socket.socket(fileno=fd)
            try:
                while True:
                    if p.can_accept:
                        s.accept()[0].close()
                    else:
                        s.recv(65536, socket.MSG_DONTWAIT)
            except OSError:
                pass
            finally:
                s.detach()

    def open_fds(self) -> list[int]:
        return [fd for fd in self.fds if fd >= 0]

    # -- traffic ----------------------------------------------------------------------------------

    def _on_io(self, index: int) -> None:
        if self.state is not S.LISTENING or index >= len(self.fds):
            return
        p, fd = self.ports[index], self.fds[index]
        self.unit.manager.log.debug("%s: Incoming traffic", self.unit.id)
        cfd = -1
        if self.cfg.accept and p.can_accept:
            try:
                cfd = _accept(fd)
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return  # spurious: somebody else took it
            except OSError as e:
                self.unit.manager.log.error("%s: Failed to accept connection socket: %s", self.unit.id, e.strerror)
                self._enter_stop_pre(SocketResult.RESOURCES)
                return
            socketports.apply_options(cfd, p, self.cfg, lambda t: self.unit.manager.log.warning("%s", t))
        self._enter_running(cfd)

    def _enter_running(self, cfd: int) -> None:
        m, u = self.unit.manager, self.unit
        if stop_pending(u):
            m.log.debug("%s: Suppressing connection request since unit stop is scheduled.", u.id)
            if cfd >= 0:
                os.close(cfd)
                self.n_refused += 1
            else:
                self._flush()
            return
        interval, burst = self.cfg.trigger_limit()
        if not self.trigger_limit.below(interval, burst):
            m.log.warning("%s: Trigger limit hit, refusing further activation.", u.id)
            if cfd >= 0:
                os.close(cfd)
                self.n_refused += 1
            self._enter_stop_pre(SocketResult.TRIGGER_LIMIT_HIT)
            return
        if cfd < 0:
            pending = any(o.active_state.is_active_or_reloading() or o.active_state is ActiveState.ACTIVATING
                          or o.job is not None for o in u.dep_units(Dep.TRIGGERS))
            if not pending:
                svc = self.service()
                if svc is None:
                    m.log.error("%s: Service to activate vanished, refusing activation.", u.id)
                    self._enter_stop_pre(SocketResult.RESOURCES)
                    return
                try:
                    m.engine.add_job(svc.id, JobType.START, JobMode.REPLACE, manual=False)
                except errors.ManagerError as e:
                    self._queue_failed(e.message, template=False)
                    return
            self._set_state(S.RUNNING)
            return
        self._accepted(cfd)

    def _accepted(self, cfd: int) -> None:
        m, u = self.unit.manager, self.unit
        if self.n_connections >= self.cfg.max_connections:
            m.log.warning("%s: Too many incoming connections (%d), dropping connection.", u.id, self.n_connections)
            os.close(cfd)
            self.n_refused += 1
            return
        peer = _peer_key(cfd)
        from_peer = sum(1 for v in self._peers.values() if v == peer) + 1
        if self.cfg.max_connections_per_source and peer is not None \
                and from_peer > self.cfg.max_connections_per_source:
            m.log.warning("%s: Too many incoming connections (%d) from source %s, dropping connection.",
                          u.id, from_peer, peer)
            os.close(cfd)
            self.n_refused += 1
            return
        try:
            instance = instance_name(cfd, self.n_accepted)
        except OSError as e:
            m.log.debug("%s: Got %s on incoming socket, assuming aborted connection attempt, ignoring.", u.id,
                        e.strerror)
            os.close(cfd)
            return
        name = f"{u.id.rsplit('.', 1)[0]}@{instance}.service"
        try:
            svc = m.load_unit(name)
        except errors.ManagerError as e:
            os.close(cfd)
            self._queue_failed(e.message, template=True)
            return
        # The link must not keep the instance loaded: it goes (garbage-collected) with its connection.
        u.deps[Dep.BEFORE].add(svc.id)
        svc.deps[Dep.AFTER].add(u.id)
        u.deps[Dep.TRIGGERS].add(svc.id)
        svc.deps[Dep.TRIGGERED_BY].add(u.id)
        self.n_accepted += 1
        self.connections[svc.id] = cfd
        if peer is not None:
            self._peers[svc.id] = peer
        try:
            m.engine.add_job(svc.id, JobType.START, JobMode.REPLACE, manual=False)
        except errors.ManagerError as e:
            self._connection_done(svc.id)
            self._queue_failed(e.message, template=True)
            return
        u.notify_changed()

    def _queue_failed(self, message: str, template: bool) -> None:
        self.unit.manager.log.warning(
            "%s: Failed to queue service startup job (Maybe the service file is missing or not a %s unit?): %s",
            self.unit.id, "template" if template else "non-template", message)
        self._enter_stop_pre(SocketResult.RESOURCES)

    def _connection_done(self, service_id: str) -> None:
        cfd = self.connections.pop(service_id, None)
        self._peers.pop(service_id, None)
        if cfd is not None:
            with contextlib.suppress(OSError):
                os.close(cfd)
            self.unit.manager.log.debug("%s: One connection closed, %d left.", self.unit.id, self.n_connections)
            self.unit.notify_changed()

    def connection_fd(self, service_id: str) -> int:
        return self.connections.get(service_id, -1)

    def trigger_notify(self, triggered: Unit) -> None:
        if triggered.id in self.connections and triggered.active_state.is_inactive_or_failed() \
                and triggered.sub_state != "auto-restart" and triggered.job is None:
            self._connection_done(triggered.id)
            triggered.manager.schedule_gc(triggered)
            return
        # Not from here: this runs inside the service's state change, and entering listening may
        # at once see traffic and queue a job for that very unit.
        if self._deferred is None and self.state in (S.RUNNING, S.LISTENING) and not self.cfg.accept:
            self._deferred = self.unit.manager.loop.call_soon(self._on_deferred_notify, triggered.id)

    def _on_deferred_notify(self, service_id: str) -> None:
        """socket_trigger_notify(): follow the service back to listening when it ends."""
        self._deferred = None
        other = self.unit.manager.get_unit(service_id)
        if other is None or self.state not in (S.RUNNING, S.LISTENING):
            return
        if hit_start_limit(other):
            self._enter_stop_pre(SocketResult.SERVICE_START_LIMIT_HIT)
            return
        if other.job is not None:
            return
        sub = other.sub_state
        if sub in ("dead", "failed", "final-sigterm", "final-sigkill", "auto-restart"):
            if self.state is not S.LISTENING:
                self._enter_listening()
        elif sub == "running" and self.state is not S.RUNNING:
            self._set_state(S.RUNNING)

    # -- persistence ------------------------------------------------------------------------------

    def serialize(self) -> dict[str, Any]:
        return {
            **self._serialize_state(), **self._serialize_control(), "control_index": self.control_index,
            "exec_status": {k: [e.to_list() for e in v] for k, v in self.exec_status.items()},
            "n_accepted": self.n_accepted, "n_refused": self.n_refused,
            "connections": sorted(self.connections), "n_fds": len(self.fds),
        }

    def deserialize(self, data: dict[str, Any]) -> None:
        if not self._deserialize_state(data):
            return
        self._deserialize_control(data)
        self.control_index = int(data.get("control_index", 0))
        self.exec_status = {k: [ExecStatus.from_list(e) for e in v] for k, v in data.get("exec_status", {}).items()}
        self.n_accepted = int(data.get("n_accepted", 0))
        self.n_refused = int(data.get("n_refused", 0))
        if self.state in _FDS_OPEN:
            self._adopt_fds()
        # The connections themselves went with the old core; their instances still count until they end.
        self.connections = {name: -1 for name in data.get("connections", [])}

    def _adopt_fds(self) -> None:
        """The listening fds of the previous core: from sysmaster-init, else opened again (what
        was queued on the old ones is then lost)."""
        m = self.unit.manager
        self.ports = list(self.cfg.ports)
        holder = m.runtime.fd_holder
        kept = holder.take_fds(self._store_name()) if holder is not None else []
        if len(kept) == len(self.ports):
            self.fds = kept
            m.log.debug("%s: adopted %d listening fds from sysmaster-init", self.unit.id, len(kept))
            return
        for fd in kept:
            os.close(fd)
        try:
            self._open_fds()
            m.log.info("%s: listening fds reopened after a core restart.", self.unit.id)
        except OSError as e:
            m.log.error("%s: Failed to listen on sockets after a core restart: %s", self.unit.id, e.strerror)
            self.fds = []

    def resume(self) -> bool:
        armed = self.state in _TIMED and not self.timer.armed and self._rearm_restored(self.timeout_usec(),
                                                                                        self._on_timeout)
        if self.state in (S.LISTENING, S.RUNNING) and not self.fds:
            self._enter_stop_pre(SocketResult.RESOURCES)
            return armed
        if self.state is S.LISTENING:
            self._watch()
        elif self.state is S.RUNNING and not self.cfg.accept:
            svc = self.service()  # it may have ended while no core ran
            if svc is not None:
                self.trigger_notify(svc)
        self._poll_until_gone()
        return armed and self.state in _TIMED


def _accept(fd: int) -> int:
    """accept() on a listening fd the unit keeps owning; the connection's fd, close-on-exec."""
    s = socket.socket(fileno=fd)
    try:
        conn, _addr = s.accept()
    finally:
        s.detach()
    return conn.detach()


def _task(kind: str) -> str:
    return {"ExecStartPre": "start-pre", "ExecStartPost": "start-post", "ExecStopPre": "stop-pre",
            "ExecStopPost": "stop-post"}[kind]


def _peer_key(fd: int) -> str | None:
    """The source address MaxConnectionsPerSource= counts by (IP without port; the UID for AF_UNIX)."""
    s = socket.socket(fileno=fd)
    try:
        if s.family in (socket.AF_INET, socket.AF_INET6):
            return str(s.getpeername()[0])
        if s.family == socket.AF_UNIX:
            import struct

            _pid, uid, _gid = struct.unpack("3i", s.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
            return f"uid:{uid}"
        return None
    except OSError:
        return None
    finally:
        s.detach()


def instance_name(fd: int, nr: int) -> str:
    """The instance part of a per-connection service, as systemd names it (instance_from_socket):
    `N-LOCAL:PORT-REMOTE:PORT` for IP, `N-PID-UID` for AF_UNIX, `N-CID:PORT-CID:PORT` for vsock."""
    s = socket.socket(fileno=fd)
    try:
        local, remote = s.getsockname(), s.getpeername()
        if s.family == socket.AF_INET:
            return f"{nr}-{local[0]}:{local[1]}-{remote[0]}:{remote[1]}"
        if s.family == socket.AF_INET6:
            mapped = "::ffff:"
            if local[0].startswith(mapped) and remote[0].startswith(mapped) and "." in local[0] + remote[0]:
                return f"{nr}-{local[0][len(mapped):]}:{local[1]}-{remote[0][len(mapped):]}:{remote[1]}"
            return f"{nr}-{local[0]}:{local[1]}-{remote[0]}:{remote[1]}"
        if s.family == socket.AF_UNIX:
            import struct

            pid, uid, _gid = struct.unpack("3i", s.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
            return f"{nr}-{pid}-{uid}" if pid > 0 else f"{nr}-unknown"
        if s.family == socket.AF_VSOCK:
            return f"{nr}-{local[0]}:{local[1]}-{remote[0]}:{remote[1]}"
        raise OSError(0, "unsupported address family")
    finally:
        s.detach()


def passed_fds(u: Unit, main: bool) -> PassedFds | None:
    """What a service started now gets (service_collect_fds): its connection when an Accept=yes
    socket spawned it, else the fds of every socket that triggers it, each named by
    FileDescriptorName=. Only the main command gets them, unless it reads the socket on stdio."""
    ctx = u.config.exec if u.config is not None else None
    stdio = ctx is not None and (ctx.standard_input is StdInput.SOCKET or StdOutput.SOCKET in (
        ctx.standard_output, ctx.standard_error))
    if not main and not stdio:
        return None
    sockets = [o.impl for o in u.dep_units(Dep.TRIGGERED_BY) if isinstance(o.impl, Socket)]
    for sock in sockets:
        cfd = sock.connection_fd(u.id)
        if cfd >= 0:
            return PassedFds([cfd], ["connection"], _remote_environment(cfd))
    out = PassedFds()
    for sock in sockets:
        for fd in sock.open_fds():
            out.fds.append(fd)
            out.names.append(sock.fd_name())
    return out if out.fds else None


def _remote_environment(fd: int) -> dict[str, str]:
    """REMOTE_ADDR= and REMOTE_PORT= of an IP connection, as systemd sets them."""
    s = socket.socket(fileno=fd)
    try:
        if s.family in (socket.AF_INET, socket.AF_INET6):
            host, port = s.getpeername()[:2]
            return {"REMOTE_ADDR": str(host), "REMOTE_PORT": str(port)}
        return {}
    except OSError:
        return {}
    finally:
        s.detach()


TYPE = TypeDescriptor(UnitKind.SOCKET, Socket, "org.freedesktop.systemd1.Socket",
                      Context.EXEC | Context.KILL | Context.CGROUP)
