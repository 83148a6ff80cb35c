"""Core's side of its bond with sysmaster-init, on the asyncio loop (InitClient does the wire).

- At start: ``handshake()`` gets init's hello, the fds it kept for us (the notify socket) and the
  exit reports of processes that died while no core ran (Manager.restore applies them).
- While running: heartbeats on a loop timer (a blocked loop sends none, which is the point: init
  kills a hung core); exit reports fed to the manager, acknowledged once the store holds the
  result; ``stop`` from init and client poweroff/reboot/halt requests stop every unit, then ask
  init to finish the job.
- Not under init, every method is a no-op except ``poweroff``, which stops the units and exits.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Mapping

from compat.model import JobMode
from sysmasterd.core.errors import ManagerError
from sysmasterd.core.manager import Manager
from sysmasterd.core.notify import NotifySocket
from sysmasterd.core.recovery import exits_by_pid, wait_status
from sysmasterd.core.states import JobType
from sysmasterd.init import protocol
from sysmasterd.init.client import Disconnected, Event, InitClient
from sysmasterd.init.protocol import SHUTDOWN_KINDS, ActionRequest, ChildExit, Hello, InitError, StoredFds

NOTIFY_FDS = "notify"
_ACTION_JOBS = {
    **{kind: (f"{kind}.target", JobMode.REPLACE_IRREVERSIBLY) for kind in ("halt", "poweroff", "reboot", "kexec")},
    "ctrl-alt-del": ("ctrl-alt-del.target", JobMode.REPLACE_IRREVERSIBLY),
    **{target: (f"{target}.target", JobMode.ISOLATE) for target in ("default", "rescue", "emergency")},
}
# How long the exit of an adopted process (no longer our child) waits for init's report with its
# real status before it is taken as a clean exit. Init reports within a loop turn of the reap.
REPORT_WAIT_SEC = 2.0


class InitLink:
    def __init__(self, m: Manager, client: InitClient, on_exit: Callable[[], None]) -> None:
        self.m = m
        self.client = client
        self.on_exit = on_exit  # how the daemon ends when there is no init to hand over to
        self.hello: Hello | None = None
        self._fds: dict[str, list[int]] = {}
        self._early_exits: list[ChildExit] = []
        self._pending_action: str | None = None
        self._beat: asyncio.TimerHandle | None = None
        self._waiting: dict[int, asyncio.TimerHandle] = {}
        self._fd = -1  # watched on the loop once attached
        m.on_poweroff_request = self.poweroff

    @classmethod
    def from_environ(cls, m: Manager, on_exit: Callable[[], None]) -> InitLink:
        client = InitClient.from_environ()
        for name in (protocol.ENV_SOCKET, protocol.ENV_HEARTBEAT):  # services must not see them
            m.settings.environ.pop(name, None)
            m.environment.pop(name, None)
        return cls(m, client, on_exit)

    @property
    def enabled(self) -> bool:
        return self.client.enabled

    # -- start-up -------------------------------------------------------------------------------

    def handshake(self, timeout: float = 5.0) -> None:
        """Blocking, before the loop runs: what init kept for us comes back."""
        if not self.enabled:
            return
        self._dispatch(self.client.handshake(timeout))
        # From now on, including during restore: a foreign PID's exit waits for init's report.
        self.m.runtime.defer_foreign_exit = self._wait_for_report
        self.m.runtime.fd_holder = self
        if self.hello is None:
            self.m.log.warning("sysmaster-init did not answer; running without it.")
        else:
            self.m.log.info("Connected to sysmaster-init (PID %d, core start #%d, %d exit reports pending).",
                            self.hello.init_pid, self.hello.starts, len(self._early_exits))

    def take_fds(self, name: str) -> list[int]:
        return self._fds.pop(name, [])

    def store_fds(self, name: str, fds: list[int]) -> None:
        self.client.store_fds(name, fds)

    def remove_fds(self, name: str) -> None:
        self.client.remove_fds(name)

    def drop_unclaimed(self, prefix: str) -> None:
        """After the restore: fds kept for units that no longer hold any (stopped, or gone while no
        core ran) are closed here and at init."""
        for name in [n for n in self._fds if n.startswith(prefix)]:
            for fd in self._fds.pop(name):
                os.close(fd)
            self.client.remove_fds(name)

    def pending_exits(self) -> Mapping[int, ChildExit]:
        return exits_by_pid(self._early_exits)

    def attach(self) -> None:
        """Start serving init on the loop (after restore, so early reports are not applied twice)."""
        if not self.enabled:
            return
        self._fd = self.client.fileno()
        self.m.loop.add_reader(self._fd, self._on_readable)
        self._heartbeat()

    def ready(self) -> None:
        """State restored and serving: early reports are committed, init may reset its count."""
        if not self.enabled:
            return
        self.m.flush_store()
        if self._early_exits:
            self.client.ack(max(e.seq for e in self._early_exits))
            self._early_exits = []
        self.client.send_ready()
        if self._pending_action is not None:
            self.act(self._pending_action)

    def detach(self) -> None:
        """Before the daemon execs itself or ends: leave the channel open, stop using it."""
        if self._beat is not None:
            self._beat.cancel()
            self._beat = None
        for handle in self._waiting.values():
            handle.cancel()
        self._waiting.clear()
        self.m.runtime.defer_foreign_exit = None
        if self._fd >= 0:
            self.m.loop.remove_reader(self._fd)
            self._fd = -1

    def exec_environ(self) -> Mapping[str, str]:
        return self.client.exec_environ()

    # -- shutdown -------------------------------------------------------------------------------

    def poweroff(self, kind: str) -> None:
        """Stop every unit (in reverse dependency order), then let init power off / reboot / halt;
        without init the daemon just exits."""
        self.m.log.info("%s requested: stopping all units.", kind.capitalize())
        self.m.begin_shutdown(lambda: self._units_stopped(kind))

    def _units_stopped(self, kind: str) -> None:
        if self.enabled:
            self.m.log.info("All units stopped; asking sysmaster-init to %s.", kind)
            self.client.request_shutdown(kind)
        else:
            self.on_exit()

    # -- the loop side --------------------------------------------------------------------------

    def _heartbeat(self) -> None:
        self.client.send_heartbeat()
        interval = self.client.heartbeat_interval
        if interval and self.enabled:
            # Three beats per interval: one late loop turn must not look like a hang.
            self._beat = self.m.loop.call_later(max(interval / 3, 0.02), self._heartbeat)

    def _on_readable(self) -> None:
        self._dispatch(self.client.read_messages())
        if self.client.wants_write:
            self.client.flush()

    def _dispatch(self, events: list[Event]) -> None:
        for e in events:
            if isinstance(e, Hello):
                self.hello = e
            elif isinstance(e, StoredFds):
                for fd in self._fds.pop(e.name, []):  # a second set under one name replaces the first
                    os.close(fd)
                self._fds[e.name] = list(e.fds)
            elif isinstance(e, ChildExit):
                self._on_exit_report(e)
            elif isinstance(e, ActionRequest):
                self._on_action(e.kind)
            elif isinstance(e, InitError):
                self.m.log.warning("sysmaster-init refused a request: %s", e.message)
            elif isinstance(e, Disconnected):
                self._on_disconnected()

    def _on_exit_report(self, e: ChildExit) -> None:
        if self._fd < 0:
            self._early_exits.append(e)  # before the loop: Manager.restore applies these
            return
        waiting = self._waiting.pop(e.pid, None)
        if waiting is not None:
            waiting.cancel()
        if e.pid in self.m.runtime.watched:
            self.m.runtime.report_exit(e.pid, wait_status(e))
        self.m.flush_store()
        self.client.ack(e.seq)

    def _wait_for_report(self, pid: int) -> bool:
        if not self.enabled:
            return False
        if pid not in self._waiting:
            self._waiting[pid] = self.m.loop.call_later(REPORT_WAIT_SEC, self._report_missing, pid)
        return True

    def _report_missing(self, pid: int) -> None:
        self._waiting.pop(pid, None)
        if pid in self.m.runtime.watched:
            self.m.log.warning("PID %d is gone but sysmaster-init did not report its status.", pid)
            self.m.runtime.report_exit(pid, 0)

    def _on_action(self, action: str) -> None:
        if self._fd >= 0:
            self.act(action)
        else:
            self._pending_action = action  # during the handshake: acted on once the state is restored

    def act(self, action: str) -> None:
        """What systemd's PID 1 does on the signal init received: start or isolate the target,
        or re-execute; a shutdown whose target cannot start stops the units directly."""
        m = self.m
        if action == "reexec":
            m.log.info("Re-executing on SIGTERM.")
            m.reexecute()
            return
        target, mode = _ACTION_JOBS[action]
        try:
            m.engine.add_job(target, JobType.START, mode, manual=False)
        except ManagerError as e:
            m.log.error("Failed to start %s: %s", target, e.message)
            if action in SHUTDOWN_KINDS:
                self.poweroff(action)

    def _on_disconnected(self) -> None:
        self.m.log.error("sysmaster-init closed the channel; carrying on without it.")
        waiting = list(self._waiting)
        self.detach()
        for pid in waiting:  # no report will come: their status is lost
            if pid in self.m.runtime.watched:
                self.m.runtime.report_exit(pid, 0)


def open_notify_socket(link: InitLink, path: str, kept_fd: str | None) -> NotifySocket:
    """The notify socket: the one kept across our own exec, else the one init kept (datagrams sent
    while no core ran are still queued in it), else a new one that init is then asked to keep."""
    from_init = link.take_fds(NOTIFY_FDS)
    if kept_fd:
        for fd in from_init:
            os.close(fd)
        return NotifySocket.from_fd(int(kept_fd), path)
    if from_init:
        for fd in from_init[1:]:
            os.close(fd)
        return NotifySocket.from_fd(from_init[0], path)
    sock = NotifySocket(path)
    link.store_fds(NOTIFY_FDS, [sock.fileno()])
    return sock
