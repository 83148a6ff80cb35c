"""Automount units: systemd's automount.c. An autofs mount on Where= whose pipe the manager reads:
the first access to the directory starts the .mount unit of the same path, and the accessing
process waits until the mount job is done (READY) or failed (FAIL); idle mounts expire after
TimeoutIdleSec=.

As in systemd, the type needs /dev/autofs (automount_supported()): without it starting fails as
unsupported. Where the kernel refuses the autofs mount (no autofs module), the unit fails with
result 'resources' and systemd's "Failed to initialize automounter" message."""

from __future__ import annotations

import enum
import errno
import os
import weakref
from typing import TYPE_CHECKING, Any

from compat.config_automount import AutomountSection, automount_where
from compat.model import USEC_INFINITY, UnitKind
from sysmasterd.core import autofs
from sysmasterd.core.dependency import Dep
from sysmasterd.core.states import ActiveState, JobResult, JobType, LoadState
from sysmasterd.core.unittype import OpResult, TypeDescriptor
from sysmasterd.units.mount import MountState, require_mounts_for
from sysmasterd.units.triggering import TriggeringType, hit_start_limit, stop_pending

if TYPE_CHECKING:
    import asyncio

    from sysmasterd.core.manager import Manager
    from sysmasterd.core.unit import Unit


class AutomountState(enum.Enum):
    DEAD = "dead"
    WAITING = "waiting"
    RUNNING = "running"
    FAILED = "failed"


class AutomountResult(enum.Enum):
    SUCCESS = "success"
    RESOURCES = "resources"
    START_LIMIT_HIT = "start-limit-hit"
    MOUNT_START_LIMIT_HIT = "mount-start-limit-hit"
    UNMOUNTED = "unmounted"


S = AutomountState
R = AutomountResult
_ACTIVE_STATE = {S.DEAD: ActiveState.INACTIVE, S.WAITING: ActiveState.ACTIVE, S.RUNNING: ActiveState.ACTIVE,
                 S.FAILED: ActiveState.FAILED}
_DONE_MESSAGES = {
    (JobType.START, JobResult.DONE): "Set up automount {}.",
    (JobType.START, JobResult.FAILED): "Failed to set up automount {}.",
    (JobType.STOP, JobResult.DONE): "Unset automount {}.",
    (JobType.STOP, JobResult.FAILED): "Failed to unset automount {}.",
}
M = MountState
_MOUNT_UP = (M.MOUNTED, M.REMOUNTING)
_MOUNT_NOT_DEAD = (M.MOUNTING, M.MOUNTING_DONE, M.MOUNTED, M.REMOUNTING, M.REMOUNTING_SIGTERM, M.REMOUNTING_SIGKILL,
                   M.UNMOUNTING_SIGTERM, M.UNMOUNTING_SIGKILL, M.FAILED)
_MOUNT_UNHAPPY = (M.DEAD, M.UNMOUNTING, M.REMOUNTING_SIGTERM, M.REMOUNTING_SIGKILL, M.UNMOUNTING_SIGTERM,
                  M.UNMOUNTING_SIGKILL, M.FAILED)

_DEV_FDS: weakref.WeakKeyDictionary[Manager, int] = weakref.WeakKeyDictionary()


def supported() -> bool:
    return os.path.exists(autofs.DEV_AUTOFS)


def _dev_fd(m: Manager) -> int:
    fd = _DEV_FDS.get(m)
    if fd is None:
        fd = _DEV_FDS[m] = autofs.open_dev()
    return fd


def _is_mount_point(path: str) -> bool:
    try:
        return os.path.ismount(path)
    except OSError:
        return False


class Automount(TriggeringType[AutomountState, AutomountResult]):
    ACTIVE_STATE = _ACTIVE_STATE
    DONE_MESSAGES = _DONE_MESSAGES

    def __init__(self, unit: Unit) -> None:
        super().__init__(unit, AutomountState, AutomountResult)
        self.pipe_fd = -1
        self.dev_id = 0
        self.tokens: set[int] = set()
        self.expire_tokens: set[int] = set()
        self._expire: asyncio.TimerHandle | None = None

    @property
    def cfg(self) -> AutomountSection:
        c = self.unit.config
        return c.automount if c is not None and c.automount is not None else AutomountSection()

    @property
    def where(self) -> str:
        c = self.unit.config
        return (automount_where(c) if c is not None else None) or "/"

    def trigger_name(self) -> str:
        return self.unit.id.rsplit(".", 1)[0] + ".mount"

    def triggered(self) -> Unit | None:
        return self.unit.manager.get_unit(self.trigger_name())

    # -- UnitType interface ----------------------------------------------------------------------

    def add_implicit_dependencies(self) -> None:
        u, m = self.unit, self.unit.manager
        m.add_dependency(u, Dep.BEFORE, self.trigger_name())
        m.add_dependency(u, Dep.TRIGGERS, self.trigger_name())
        if self.where != "/":
            require_mounts_for(u, os.path.dirname(self.where))

    def add_default_dependencies(self) -> None:
        u, m = self.unit, self.unit.manager
        if not m.is_system:
            return
        m.add_dependency(u, Dep.BEFORE, "local-fs.target")
        m.add_dependency(u, Dep.AFTER, "local-fs-pre.target")
        m.add_dependency(u, Dep.BEFORE, "umount.target")
        m.add_dependency(u, Dep.CONFLICTS, "umount.target")

    def start(self) -> OpResult:
        u, log = self.unit, self.unit.manager.log
        if not supported():
            return OpResult.UNSUPPORTED
        if _is_mount_point(self.where):
            log.error("%s: Path %s is already a mount point, refusing start.", u.id, self.where)
            return OpResult.FAILED
        if not self._trigger_loaded(self.triggered() or u.manager.load_unit(self.trigger_name())):
            return OpResult.FAILED
        if self._refuse_start_limit():
            return OpResult.FAILED
        u.new_invocation()
        self._result = R.SUCCESS
        self._enter_waiting()
        return OpResult.FAILED if self.state is S.FAILED else OpResult.STARTED

    def trigger_notify(self, triggered: Unit) -> None:
        """automount_trigger_notify(): answer the waiting processes as the mount unit comes or goes."""
        if self.state not in (S.WAITING, S.RUNNING) or triggered.id != self.trigger_name():
            return
        impl = triggered.impl
        if hit_start_limit(triggered):
            self._enter_dead(R.MOUNT_START_LIMIT_HIT)
            return
        if triggered.job is not None or impl is None:
            return
        state = getattr(impl, "state", None)
        if state in _MOUNT_UP:
            self._send_ready(self.tokens, 0)
            self._start_expire()
            self._set_state(S.RUNNING)
        if state in _MOUNT_NOT_DEAD:
            self._send_ready(self.expire_tokens, -errno.ENODEV)
        if state is M.DEAD:
            self._send_ready(self.expire_tokens, 0)
        if state in _MOUNT_UNHAPPY:
            self._send_ready(self.tokens, -errno.ENODEV)
            self._set_state(S.WAITING)

    # -- the autofs mount ------------------------------------------------------------------------

    def _enter_waiting(self) -> None:
        u, m, where = self.unit, self.unit.manager, self.where
        self.tokens.clear()
        try:
            os.makedirs(where, mode=self.cfg.directory_mode, exist_ok=True)
        except OSError:
            pass
        read_fd = write_fd = -1
        mounted = False
        try:
            dev_fd = _dev_fd(m)
            read_fd, write_fd = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
            options = f"fd={write_fd},pgrp={os.getpgrp()},minproto=5,maxproto=5,direct"
            if self.cfg.extra_options:
                options += "," + self.cfg.extra_options
            autofs.mount(f"systemd-{os.getpid()}", where, options)
            mounted = True
            os.close(write_fd)
            write_fd = -1
            dev_id = os.stat(where).st_dev
            ioctl_fd = autofs.open_mount(dev_fd, where, dev_id)
            try:
                autofs.check_protocol(dev_fd, ioctl_fd)
                timeout = self.cfg.timeout_idle_usec
                autofs.set_timeout(dev_fd, ioctl_fd, 0 if timeout == USEC_INFINITY else -(-timeout // 1_000_000))
            finally:
                os.close(ioctl_fd)
        except OSError as e:
            m.log.error("%s: Failed to initialize automounter: %s", u.id, e.strerror or e)
            for fd in (read_fd, write_fd):
                if fd >= 0:
                    os.close(fd)
            if mounted:
                self._unmount_quietly()
            self._enter_dead(R.RESOURCES)
            return
        self.pipe_fd, self.dev_id = read_fd, dev_id
        m.loop.add_reader(read_fd, self._on_pipe)
        self._set_state(S.WAITING)

    def _unmount_quietly(self) -> None:
        try:
            autofs.unmount(self.where)
        except OSError as e:
            self.unit.manager.log.error("%s: Failed to unmount: %s", self.unit.id, e.strerror)

    def _unmount_autofs(self) -> None:
        if self.pipe_fd < 0:
            return
        self.unit.manager.loop.remove_reader(self.pipe_fd)
        os.close(self.pipe_fd)
        self.pipe_fd = -1
        self._send_ready(self.tokens, -errno.EHOSTDOWN)
        self._send_ready(self.expire_tokens, -errno.EHOSTDOWN)
        self._unmount_quietly()

    def _send_ready(self, tokens: set[int], status: int) -> None:
        if not tokens or self.unit.manager not in _DEV_FDS:
            return
        dev_fd = _DEV_FDS[self.unit.manager]
        try:
            ioctl_fd = autofs.open_mount(dev_fd, self.where, self.dev_id)
        except OSError as e:
            self.unit.manager.log.debug("%s: Cannot answer the kernel: %s", self.unit.id, e.strerror)
            return
        try:
            while tokens:
                try:
                    autofs.send_ready(dev_fd, ioctl_fd, tokens.pop(), status)
                except OSError as e:
                    self.unit.manager.log.debug("%s: Sending %s failed: %s", self.unit.id, status, e.strerror)
        finally:
            os.close(ioctl_fd)

    def _on_pipe(self) -> None:
        u, m = self.unit, self.unit.manager
        try:
            data = os.read(self.pipe_fd, autofs.PACKET_SIZE)
        except BlockingIOError:
            return
        except OSError as e:
            m.log.error("%s: Invalid read from pipe: %s", u.id, e.strerror)
            self._enter_dead(R.RESOURCES)
            return
        if not data:
            m.log.error("%s: Got hangup/error on autofs pipe from kernel. Likely our automount point has been "
                        "unmounted by someone or something else?", u.id)
            self._enter_dead(R.UNMOUNTED)
            return
        if len(data) != autofs.PACKET_SIZE:
            m.log.error("%s: Invalid read from pipe: short read", u.id)
            self._enter_dead(R.RESOURCES)
            return
        packet = autofs.parse_packet(data)
        if packet.type == autofs.PTYPE_MISSING_DIRECT:
            m.log.info("%s: Got automount request for %s, triggered by %d (%s)", u.id, self.where, packet.pid,
                       _comm(packet.pid))
            self.tokens.add(packet.token)
            self._enter_running()
        elif packet.type == autofs.PTYPE_EXPIRE_DIRECT:
            m.log.debug("%s: Got direct umount request on %s", u.id, self.where)
            self._stop_expire()
            self.expire_tokens.add(packet.token)
            self._queue_job(self.trigger_name(), JobType.STOP, "Failed to queue unmount job")
        else:
            m.log.error("%s: Received unknown automount request %d", u.id, packet.type)

    def _enter_running(self) -> None:
        u, m = self.unit, self.unit.manager
        if u.load_state is not LoadState.LOADED:
            m.log.error("%s: Suppressing automount event since unit is no longer loaded.", u.id)
            self._enter_dead(R.RESOURCES)
            return
        if stop_pending(u):
            m.log.debug("%s: Suppressing automount request since unit stop is scheduled.", u.id)
            self._send_ready(self.tokens, -errno.EHOSTDOWN)
            self._send_ready(self.expire_tokens, -errno.EHOSTDOWN)
            return
        try:
            st = os.lstat(self.where)
        except OSError as e:
            m.log.warning("%s: Failed to stat automount point: %s", u.id, e.strerror)
            self._enter_dead(R.RESOURCES)
            return
        if not os.path.isdir(self.where) or st.st_dev != self.dev_id:
            m.log.info("%s: Automount point already active?", u.id)
            self._send_ready(self.tokens, 0)
            return
        if self._queue_job(self.trigger_name(), JobType.START, "Failed to queue mount startup job"):
            self._set_state(S.RUNNING)

    # -- expiry ----------------------------------------------------------------------------------

    def _start_expire(self) -> None:
        timeout = self.cfg.timeout_idle_usec
        if timeout == 0:
            return
        self._stop_expire()
        self._expire = self.unit.manager.loop.call_later(max(timeout / 3, 1_000_000) / 1e6, self._on_expire)

    def _stop_expire(self) -> None:
        if self._expire is not None:
            self._expire.cancel()
            self._expire = None

    def _on_expire(self) -> None:
        """The kernel's expire ioctl blocks until this manager has handled the umount request it
        causes, so it runs in a worker thread, as systemd runs it in one."""
        self._expire = None
        m = self.unit.manager
        try:
            dev_fd = os.dup(_DEV_FDS[m])
            ioctl_fd = autofs.open_mount(_DEV_FDS[m], self.where, self.dev_id)
        except (OSError, KeyError) as e:
            m.log.error("%s: Couldn't open autofs ioctl fd: %s", self.unit.id, e)
            return

        def run() -> None:
            try:
                autofs.expire(dev_fd, ioctl_fd)
            except OSError as e:
                m.log.warning("Failed to expire automount, ignoring: %s", e.strerror)
            finally:
                os.close(dev_fd)
                os.close(ioctl_fd)

        m.loop.run_in_executor(None, run)
        self._start_expire()

    # -- state -----------------------------------------------------------------------------------

    def _set_state(self, state: S) -> None:
        old, self.state = self.state, state
        if state is not S.RUNNING:
            self._stop_expire()
        if state not in (S.WAITING, S.RUNNING):
            self._unmount_autofs()
        self._log_change(old)
        self.unit.notify()

    # -- persistence -----------------------------------------------------------------------------

    def serialize(self) -> dict[str, Any]:
        return self._serialize_state()

    def deserialize(self, data: dict[str, Any]) -> None:
        self._deserialize_state(data)

    def resume(self) -> bool:
        """The pipe of a previous core is gone with it, and with it the kernel's way to reach us:
        the stale autofs mount is replaced by a fresh one."""
        if self.state in (S.WAITING, S.RUNNING) and self.pipe_fd < 0:
            self._unmount_quietly()
            self.state = S.DEAD
            self._enter_waiting()
        return False


def _comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return "n/a"


TYPE = TypeDescriptor(UnitKind.AUTOMOUNT, Automount, "org.freedesktop.systemd1.Automount")
