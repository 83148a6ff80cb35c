"""Mount units: systemd's mount.c. A unit per mount point, whose state follows the kernel's mount
table: mounts established by anyone show up as mounted units (without a unit file), and units
from files mount and unmount through /bin/mount and /bin/umount as their control process.

The manager-wide part (the mount table, its watch, RequiresMountsFor= bookkeeping) is a MountTable
per manager; the Mount class is one unit's state machine.
"""

from __future__ import annotations

import enum
import logging
import os
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from compat import fstab, unitname
from compat.config_mount import MountSection, mount_where
from compat.model import UnitKind
from sysmasterd.core import mountinfo
from sysmasterd.core.dependency import Dep
from sysmasterd.core.kill import KillPhase
from sysmasterd.core.states import ActiveState, JobResult, JobType, LoadState
from sysmasterd.core.unittype import Context, OpResult, TypeDescriptor
from sysmasterd.units.kerneltable import KernelTableType

if TYPE_CHECKING:
    from sysmasterd.core.manager import Manager
    from sysmasterd.core.unit import Unit

MOUNT_PATH = "/bin/mount"
UMOUNT_PATH = "/bin/umount"
ROOT_MOUNT = "-.mount"
RETRY_UMOUNT_MAX = 32


class MountState(enum.Enum):
    DEAD = "dead"
    MOUNTING = "mounting"
    MOUNTING_DONE = "mounting-done"
    MOUNTED = "mounted"
    REMOUNTING = "remounting"
    UNMOUNTING = "unmounting"
    REMOUNTING_SIGTERM = "remounting-sigterm"
    REMOUNTING_SIGKILL = "remounting-sigkill"
    UNMOUNTING_SIGTERM = "unmounting-sigterm"
    UNMOUNTING_SIGKILL = "unmounting-sigkill"
    FAILED = "failed"


class MountResult(enum.Enum):
    SUCCESS = "success"
    RESOURCES = "resources"
    TIMEOUT = "timeout"
    EXIT_CODE = "exit-code"
    SIGNAL = "signal"
    CORE_DUMP = "core-dump"
    START_LIMIT_HIT = "start-limit-hit"
    PROTOCOL = "protocol"


S = MountState
R = MountResult
_ACTIVE_STATE = {
    S.DEAD: ActiveState.INACTIVE, S.MOUNTING: ActiveState.ACTIVATING, S.MOUNTING_DONE: ActiveState.ACTIVATING,
    S.MOUNTED: ActiveState.ACTIVE, S.REMOUNTING: ActiveState.RELOADING, S.UNMOUNTING: ActiveState.DEACTIVATING,
    S.REMOUNTING_SIGTERM: ActiveState.RELOADING, S.REMOUNTING_SIGKILL: ActiveState.RELOADING,
    S.UNMOUNTING_SIGTERM: ActiveState.DEACTIVATING, S.UNMOUNTING_SIGKILL: ActiveState.DEACTIVATING,
    S.FAILED: ActiveState.FAILED,
}  # fmt: skip
_WITH_PROCESS = frozenset({S.MOUNTING, S.MOUNTING_DONE, S.REMOUNTING, S.REMOUNTING_SIGTERM, S.REMOUNTING_SIGKILL,
                           S.UNMOUNTING, S.UNMOUNTING_SIGTERM, S.UNMOUNTING_SIGKILL})
_UNMOUNTING = (S.UNMOUNTING, S.UNMOUNTING_SIGTERM, S.UNMOUNTING_SIGKILL)
_REMOUNTING = (S.REMOUNTING, S.REMOUNTING_SIGTERM, S.REMOUNTING_SIGKILL)
_SIGNAL_STATES = (S.REMOUNTING_SIGTERM, S.REMOUNTING_SIGKILL, S.UNMOUNTING_SIGTERM, S.UNMOUNTING_SIGKILL)
EXEC_KINDS = ("ExecMount", "ExecUnmount", "ExecRemount")
_DONE_MESSAGES = {
    (JobType.START, JobResult.DONE): "Mounted {}.", (JobType.START, JobResult.FAILED): "Failed to mount {}.",
    (JobType.START, JobResult.TIMEOUT): "Timed out mounting {}.", (JobType.STOP, JobResult.DONE): "Unmounted {}.",
    (JobType.STOP, JobResult.FAILED): "Failed unmounting {}.",
    (JobType.STOP, JobResult.TIMEOUT): "Timed out unmounting {}.",
}  # fmt: skip


@dataclass(frozen=True)
class MountParameters:
    what: str | None
    options: str | None
    fstype: str | None


# -- the manager-wide part -----------------------------------------------------------------------


@dataclass
class MountTable:
    """What the kernel says is mounted (by mount point, the last of stacked mounts winning), and
    which units asked for which paths with RequiresMountsFor= (or implicitly)."""

    mounted: dict[str, mountinfo.MountEntry] = field(default_factory=dict)
    requirers: dict[str, set[str]] = field(default_factory=dict)
    watch: mountinfo.MountinfoWatch | None = None


_TABLES: weakref.WeakKeyDictionary[Manager, MountTable] = weakref.WeakKeyDictionary()


def table_of(m: Manager) -> MountTable:
    table = _TABLES.get(m)
    if table is None:
        table = _TABLES[m] = MountTable()
    return table


def unit_name_for(where: str) -> str | None:
    try:
        name = unitname.path_escape(where) + ".mount"
    except ValueError:
        return None
    return name if unitname.is_valid(name, template=False) else None


def _devices_supported() -> bool:
    """Device units exist where /sys is writable (not in a container), as systemd decides."""
    try:
        return not os.statvfs("/sys").f_flag & os.ST_RDONLY
    except OSError:
        return False


def add_node_dependency(u: Unit, what: str, dep: Dep) -> None:
    """unit_add_node_dependency() and unit_add_blockdev_dependency(): `dep` (Wants= in a user
    manager) and After= on the device unit of a node, After= its blockdev@ target; nothing where
    device units are not supported."""
    if not fstab.is_device_path(what) or not _devices_supported():
        return
    device = unitname.from_path(what, "device")
    if device is None:
        return
    m = u.manager
    m.add_dependency(u, dep if m.is_system else Dep.WANTS, device)
    m.add_dependency(u, Dep.AFTER, device)
    if what.startswith("/dev/"):
        m.add_dependency(u, Dep.AFTER, f"blockdev@{unitname.path_escape(what)}.target")


def require_mounts_for(u: Unit, path: str) -> None:
    """RequiresMountsFor=PATH: After= every mount unit of a prefix of PATH that is loaded, and
    Requires= those with a unit file (systemd's unit_add_mount_dependencies). A mount unit loaded
    later adds the same from its side (add_implicit_dependencies)."""
    m = u.manager
    path = fstab.path_prefixes(path)[-1]
    table_of(m).requirers.setdefault(path, set()).add(u.id)
    for prefix in fstab.path_prefixes(path):
        name = unit_name_for(prefix)
        if name is None or name in u.names:
            continue
        other = m.get_unit(name)
        if other is None and m.loader.map.find_fragment(name)[0] is not None:
            other = m.load_unit(name)
        if other is not None and other.load_state is LoadState.LOADED:
            _mount_dependency(u, other)


def _mount_dependency(u: Unit, mount: Unit) -> None:
    u.manager.add_dependency(u, Dep.AFTER, mount.id)
    if mount.fragment_path:
        u.manager.add_dependency(u, Dep.REQUIRES, mount.id)


def loads_without_file(u: Unit) -> bool:
    """systemd's mount_load(): a mount point the kernel reports, and /, need no unit file."""
    if u.id == ROOT_MOUNT:
        return True
    where = mount_where_of_name(u.id)
    return where is not None and where in table_of(u.manager).mounted


def mount_where_of_name(name: str) -> str | None:
    try:
        return unitname.path_unescape(name.rsplit(".", 1)[0])
    except ValueError:
        return None


def enumerate_mounts(m: Manager) -> None:
    """At start: -.mount, a unit for every mount point, and the watch that keeps them current."""
    table = table_of(m)
    if table.watch is None:
        try:
            table.watch = mountinfo.MountinfoWatch(m.loop, lambda: process_mountinfo(m), m.log)
        except OSError as e:
            m.log.error("Failed to watch %s: %s", mountinfo.MOUNTINFO, e.strerror)
    process_mountinfo(m)
    m.load_unit(ROOT_MOUNT).perpetual = True


def process_mountinfo(m: Manager) -> None:
    """Read the mount table and bring every mount unit in line with it (mount_process_proc_self_mountinfo)."""
    table = table_of(m)
    try:
        entries = mountinfo.read()
    except OSError as err:
        m.log.error("Failed to parse %s: %s", mountinfo.MOUNTINFO, err.strerror)
        return
    mounted: dict[str, mountinfo.MountEntry] = {}
    for entry in entries:
        where = entry.target
        if fstab.mount_point_is_api(where) or fstab.mount_point_ignore(where) or entry.fstype == "autofs":
            continue
        if not where.startswith("/"):
            continue
        if unit_name_for(where) is None:
            m.log.warning("Failed to generate valid unit name from mount point path '%s', ignoring mount point.",
                          where)
            continue
        mounted[where] = entry
    table.mounted = mounted
    changed: list[Mount] = []
    for where, entry in mounted.items():
        name = unit_name_for(where)
        assert name is not None
        u = m.get_unit(name)
        if u is None:
            u = m.load_unit(name)
        elif u.load_state is not LoadState.LOADED and u.job is None:
            _reload(m, u)  # known as not-found so far: now the kernel vouches for it
        impl = u.impl
        if isinstance(impl, Mount) and impl.set_proc(entry):
            changed.append(impl)
    for u in list(m.units_by_id().values()):
        impl = u.impl
        if isinstance(impl, Mount):
            impl.follow_kernel(impl in changed)


def _reload(m: Manager, u: Unit) -> None:
    u.apply_load(m.loader.load(u.id))
    if u.load_state is LoadState.LOADED:
        u.add_config_dependencies()
    u.notify_changed()


# -- one mount unit --------------------------------------------------------------------------------


class Mount(KernelTableType[MountState, MountResult]):
    ACTIVE_STATE = _ACTIVE_STATE
    DONE_MESSAGES = _DONE_MESSAGES
    ACTIVE = S.MOUNTED.value
    WITH_PROCESS = _WITH_PROCESS
    SIGNAL_STATES = frozenset(_SIGNAL_STATES)
    PROCESS = "Mount process"

    def __init__(self, unit: Unit) -> None:
        super().__init__(unit, MountState, MountResult)
        self.reload_result = R.SUCCESS
        self.n_retry_umount = 0
        self.proc: MountParameters | None = None  # from /proc/self/mountinfo while mounted
        self.just_mounted = False

    # -- configuration --------------------------------------------------------------------------

    @property
    def cfg(self) -> MountSection:
        c = self.unit.config
        return c.mount if c is not None and c.mount is not None else MountSection()

    @property
    def where(self) -> str:
        if self.unit.config is not None:
            where = mount_where(self.unit.config)
            if where is not None:
                return where
        return mount_where_of_name(self.unit.id) or "/"

    @property
    def from_fragment(self) -> bool:
        return bool(self.unit.fragment_path)

    def fragment_parameters(self) -> MountParameters | None:
        if not self.from_fragment:
            return None
        return MountParameters(self.cfg.what, self.cfg.options, self.cfg.type)

    def parameters(self) -> MountParameters | None:
        """The kernel's view while mounted, else the unit file's (get_mount_parameters)."""
        return self.proc or self.fragment_parameters()

    def _timeout_setting(self) -> int | None:
        return self.cfg.timeout_usec

    def in_kernel(self) -> bool:
        return self.proc is not None

    def is_extrinsic(self) -> bool:
        """Mounts the manager does not order at start-up nor unmount at shut-down: all of them in
        a user manager, /, /usr, API file systems (mount_is_extrinsic)."""
        if not self.unit.manager.is_system:
            return True
        p = self.parameters()
        return fstab.is_extrinsic(self.where, p.options if p else None)

    def is_nofail(self) -> bool:
        p = self.fragment_parameters()
        return p is not None and fstab.test_yes_no_option(p.options, "nofail", "fail")

    # -- UnitType interface ---------------------------------------------------------------------

    def can_reload(self) -> bool:
        return True

    def add_implicit_dependencies(self) -> None:
        u, m = self.unit, self.unit.manager
        cfg = u.config
        where = self.where
        if cfg is not None:
            if u.id == ROOT_MOUNT:
                u.perpetual = True
                cfg.unit.default_dependencies = False
            if not cfg.unit.description:
                cfg.unit.description = "Root Mount" if u.id == ROOT_MOUNT else where
        if not u.fragment_path and where in table_of(m).mounted:
            u.source_path = mountinfo.MOUNTINFO
        # Mounts further up the tree; the source of a bind or loop mount.
        if where != "/":
            require_mounts_for(u, os.path.dirname(where))
        frag = self.fragment_parameters()
        if frag is not None and frag.what and frag.what.startswith("/") and (
                fstab.is_bind(frag.options, frag.fstype) or fstab.is_loop(frag.options)
                or not fstab.is_network(frag.options, frag.fstype)):
            require_mounts_for(u, frag.what)
        # Units that asked for this path or one below it.
        for path, ids in list(table_of(m).requirers.items()):
            if not fstab.path_startswith(path, where):
                continue
            for uid in list(ids):
                other = m.get_unit(uid)
                if other is not None and other is not u and other.load_state is LoadState.LOADED:
                    _mount_dependency(other, u)
        self._add_device_dependencies()

    def _add_device_dependencies(self) -> None:
        p = self.parameters()
        if p is None or not p.what or fstab.is_bind(p.options, p.fstype) or not fstab.is_device_path(p.what):
            return
        if p.what in ("/dev/root", "/dev/nfs") or self.where == "/":
            return
        bound = fstab.test_option(p.options, ("x-systemd.device-bound",))
        add_node_dependency(self.unit, p.what, Dep.BINDS_TO if bound else Dep.REQUIRES)

    def add_default_dependencies(self) -> None:
        """mount_add_default_dependencies(): local or remote file system targets, umount.target."""
        if self.is_extrinsic():
            return
        p = self.parameters()
        if p is None:
            return
        u, m = self.unit, self.unit.manager
        network = fstab.is_network(p.options, p.fstype)
        after, before = (("remote-fs-pre.target", "remote-fs.target") if network
                         else ("local-fs-pre.target", "local-fs.target"))
        if not self.is_nofail():
            m.add_dependency(u, Dep.BEFORE, before)
        m.add_dependency(u, Dep.AFTER, after)
        m.add_dependency(u, Dep.BEFORE, "umount.target")
        m.add_dependency(u, Dep.CONFLICTS, "umount.target")
        if network:
            m.add_dependency(u, Dep.AFTER, "network.target")
            m.add_dependency(u, Dep.WANTS, "network-online.target")
            m.add_dependency(u, Dep.AFTER, "network-online.target")
        if p.fstype == "tmpfs":
            m.add_dependency(u, Dep.AFTER, "swap.target")

    def start(self) -> OpResult:
        if self.state in _UNMOUNTING:
            return OpResult.AGAIN
        if self.state in (S.MOUNTING, S.MOUNTING_DONE):
            return OpResult.STARTED
        refused = self._start_cycle()
        if refused is not None:
            return refused
        self._enter_mounting()
        return OpResult.STARTED

    def stop(self) -> OpResult:
        st = self.state
        if st in _UNMOUNTING:
            return OpResult.STARTED
        if st in (S.MOUNTING, S.MOUNTING_DONE, S.REMOUNTING):
            self._enter_signal(S.UNMOUNTING_SIGTERM, R.SUCCESS)
        elif st is S.REMOUNTING_SIGTERM:
            self._set_state(S.UNMOUNTING_SIGTERM)
        elif st is S.REMOUNTING_SIGKILL:
            self._set_state(S.UNMOUNTING_SIGKILL)
        elif st is S.MOUNTED:
            self._enter_unmounting()
        else:
            return OpResult.ALREADY
        return OpResult.STARTED

    def reload(self) -> OpResult:
        if self.state is not S.MOUNTED:
            return OpResult.AGAIN
        self._enter_remounting()
        return OpResult.STARTED

    def reset_failed(self) -> None:
        super().reset_failed()
        self.reload_result = R.SUCCESS

    # -- following the kernel ----------------------------------------------------------------------

    def set_proc(self, e: mountinfo.MountEntry) -> bool:
        """The kernel reports the mount point: True if it just appeared or its parameters changed."""
        new = MountParameters(e.source, e.options, e.fstype)
        changed = new != self.proc
        self.just_mounted = self.proc is None or self.state is S.MOUNTING
        self.proc = new
        return changed or self.just_mounted

    def follow_kernel(self, changed: bool) -> None:
        if self.where not in table_of(self.unit.manager).mounted:
            if self.proc is None:
                return
            self.proc = None
            if self.state is S.MOUNTED:
                self._enter_dead(R.SUCCESS)  # unmounted by someone else
            elif self.state is S.MOUNTING_DONE:
                self._set_state(S.MOUNTING)  # gone again: the control process's exit decides
            return
        if not changed:
            return
        if self.state in (S.DEAD, S.FAILED):
            self.unit.new_invocation()  # mounted by someone else
            self._cycle_clear()
            self._set_state(S.MOUNTED)
        elif self.state is S.MOUNTING:
            self._set_state(S.MOUNTING_DONE)
        else:
            self.unit.notify_changed()  # e.g. remounted read-only: Options changed

    # -- state machine ----------------------------------------------------------------------------

    def _reload_succeeded(self) -> bool:
        return self.reload_result is R.SUCCESS

    def _cycle_clear(self) -> None:
        super()._cycle_clear()
        self.reload_result = R.SUCCESS

    def _enter_mounting(self) -> None:
        m, where = self.unit.manager, self.where
        p = self.fragment_parameters()
        source_is_dir = True
        if p is not None and p.what and fstab.is_bind(p.options, p.fstype):
            source_is_dir = not os.path.exists(p.what) or os.path.isdir(p.what)
        try:
            if source_is_dir:
                os.makedirs(where, mode=self.cfg.directory_mode, exist_ok=True)
            elif not os.path.exists(where):
                os.makedirs(os.path.dirname(where), exist_ok=True)
                open(where, "a").close()  # a file to bind-mount a file over
        except OSError as e:
            m.log.warning("%s: Failed to create mount point '%s', ignoring: %s", self.unit.id, where, e.strerror)
        if source_is_dir:
            try:
                if os.listdir(where):
                    m.log.info("%s: Directory %s to mount over is not empty, mounting anyway.", self.unit.id, where)
            except OSError:
                pass
        if p is None or not p.what:
            m.log.warning("%s: Failed to run 'mount' task: No such file or directory", self.unit.id)
            self._enter_dead_or_active(R.RESOURCES)
            return
        if fstab.is_bind(p.options, p.fstype):
            try:
                os.makedirs(p.what, mode=self.cfg.directory_mode, exist_ok=True)
            except OSError as e:
                m.log.log(logging.DEBUG if e.errno in (30, 1, 13) else logging.WARNING,
                          "%s: Failed to make bind mount source '%s', ignoring: %s", self.unit.id, p.what, e.strerror)
        argv = [MOUNT_PATH, p.what, where, *self._flags(p)]
        opts = fstab.filter_options(p.options, ("nofail", "noauto", "auto"))
        if opts:
            argv += ["-o", opts]
        self._run_control("ExecMount", argv, S.MOUNTING, "mount")

    def _flags(self, p: MountParameters) -> list[str]:
        argv = ["-s"] if self.cfg.sloppy_options else []
        argv += ["-w"] if self.cfg.read_write_only else []
        return argv + (["-t", p.fstype] if p.fstype else [])

    def _enter_unmounting(self) -> None:
        if self.state not in _UNMOUNTING:
            self.n_retry_umount = 0
        argv = [UMOUNT_PATH, self.where, "-c"]
        argv += ["-l"] if self.cfg.lazy_unmount else []
        argv += ["-f"] if self.cfg.force_unmount else []
        self._run_control("ExecUnmount", argv, S.UNMOUNTING, "umount")

    def _enter_remounting(self) -> None:
        self.reload_result = R.SUCCESS
        p = self.fragment_parameters()
        if p is None or not p.what:
            self.unit.manager.log.warning("%s: Failed to run 'remount' task: No such file or directory", self.unit.id)
            self.reload_result = R.RESOURCES
            self._enter_dead_or_active(R.SUCCESS)
            return
        options = f"remount,{p.options}" if p.options else "remount"
        argv = [MOUNT_PATH, p.what, self.where, "-o", options, *self._flags(p)]
        self._run_control("ExecRemount", argv, S.REMOUNTING, "remount")

    def _spawn_failed(self, kind: str) -> None:
        if kind == "ExecRemount":
            self.reload_result = R.RESOURCES
            self._enter_dead_or_active(R.SUCCESS)
        else:
            super()._spawn_failed(kind)

    def _enter_signal(self, state: S, result: R) -> None:
        phase = KillPhase.TERMINATE if state in (S.REMOUNTING_SIGTERM, S.UNMOUNTING_SIGTERM) else KillPhase.KILL
        if self._kill_phase(state, result, phase):
            return
        send_sigkill = self._send_sigkill()
        if state is S.REMOUNTING_SIGTERM and send_sigkill:
            self._enter_signal(S.REMOUNTING_SIGKILL, R.SUCCESS)
        elif state in (S.REMOUNTING_SIGTERM, S.REMOUNTING_SIGKILL):
            self._enter_active(R.SUCCESS)
        elif state is S.UNMOUNTING_SIGTERM and send_sigkill:
            self._enter_signal(S.UNMOUNTING_SIGKILL, R.SUCCESS)
        else:
            self._enter_dead_or_active(R.SUCCESS)

    def _on_timeout(self) -> None:
        m, uid, st = self.unit.manager, self.unit.id, self.state
        send_sigkill = self._send_sigkill()
        if st in (S.MOUNTING, S.MOUNTING_DONE):
            m.log.warning("%s: Mounting timed out. Terminating.", uid)
            self._enter_signal(S.UNMOUNTING_SIGTERM, R.TIMEOUT)
        elif st is S.REMOUNTING:
            m.log.warning("%s: Remounting timed out. Terminating remount process.", uid)
            self._set_reload_result(R.TIMEOUT)
            self._enter_signal(S.REMOUNTING_SIGTERM, R.SUCCESS)
        elif st is S.REMOUNTING_SIGTERM:
            self._set_reload_result(R.TIMEOUT)
            if send_sigkill:
                m.log.warning("%s: Remounting timed out. Killing.", uid)
                self._enter_signal(S.REMOUNTING_SIGKILL, R.SUCCESS)
            else:
                m.log.warning("%s: Remounting timed out. Skipping SIGKILL. Ignoring.", uid)
                self._enter_dead_or_active(R.SUCCESS)
        elif st is S.REMOUNTING_SIGKILL:
            self._set_reload_result(R.TIMEOUT)
            m.log.warning("%s: Mount process still around after SIGKILL. Ignoring.", uid)
            self._enter_dead_or_active(R.SUCCESS)
        elif st is S.UNMOUNTING:
            m.log.warning("%s: Unmounting timed out. Terminating.", uid)
            self._enter_signal(S.UNMOUNTING_SIGTERM, R.TIMEOUT)
        elif st is S.UNMOUNTING_SIGTERM:
            if send_sigkill:
                m.log.warning("%s: Mount process timed out. Killing.", uid)
                self._enter_signal(S.UNMOUNTING_SIGKILL, R.TIMEOUT)
            else:
                m.log.warning("%s: Mount process timed out. Skipping SIGKILL. Ignoring.", uid)
                self._enter_dead_or_active(R.TIMEOUT)
        elif st is S.UNMOUNTING_SIGKILL:
            m.log.warning("%s: Mount process still around after SIGKILL. Ignoring.", uid)
            self._enter_dead_or_active(R.TIMEOUT)

    def _set_reload_result(self, result: R) -> None:
        if self.reload_result is R.SUCCESS:
            self.reload_result = result

    def child_exited(self, pid: int, status: int) -> bool:
        if pid != self.control_pid_ or not pid:
            return False
        m, uid = self.unit.manager, self.unit.id
        # The kernel changes the table before mount/umount exit; the watch may not have run yet.
        process_mountinfo(m)
        f = self._control_exited(pid, status)
        state = self.state
        if state in _REMOUNTING:
            self._set_reload_result(f)
        elif state not in (S.MOUNTING, S.UNMOUNTING):
            self._keep_result(f)
        if state is S.MOUNTING:
            if f is R.SUCCESS:
                m.log.warning("%s: Mount process finished, but there is no mount.", uid)
                f = R.PROTOCOL
            self._enter_dead(f)
        elif state is S.MOUNTING_DONE:
            self._enter_active(f)
        elif state in _REMOUNTING:
            self._enter_dead_or_active(R.SUCCESS)
        elif state is S.UNMOUNTING:
            if f is R.SUCCESS and self.proc is not None:
                if self.n_retry_umount < RETRY_UMOUNT_MAX:
                    m.log.debug("%s: Mount still present, trying again.", uid)
                    self.n_retry_umount += 1
                    self._enter_unmounting()
                else:
                    m.log.warning("%s: Mount still present after %d attempts to unmount, giving up.", uid,
                                  self.n_retry_umount)
                    self._enter_active(R.PROTOCOL)
            elif f is R.EXIT_CODE and self.proc is None:
                m.log.info("%s: Mount disappeared even though umount process failed, continuing.", uid)
                self._enter_dead(R.SUCCESS)
            else:
                self._enter_dead_or_active(f)
        elif state in (S.UNMOUNTING_SIGTERM, S.UNMOUNTING_SIGKILL):
            self._enter_dead_or_active(f)
        self.unit.notify_changed()
        return True

    # -- persistence ------------------------------------------------------------------------------

    def serialize(self) -> dict[str, Any]:
        return {**super().serialize(), "reload_result": self.reload_result.value,
                "n_retry_umount": self.n_retry_umount}

    def deserialize(self, data: dict[str, Any]) -> None:
        try:
            reload_result = R(data.get("reload_result", "success"))
        except ValueError:
            return
        super().deserialize(data)
        self.reload_result = reload_result
        self.n_retry_umount = int(data.get("n_retry_umount", 0))

    def resume(self) -> bool:
        """After a restore: the kernel's table is the truth (mount_catchup), a running control
        process gets its timeout back."""
        if self.proc is not None and self.state in (S.DEAD, S.FAILED):
            self.unit.new_invocation()
            self._cycle_clear()
            self._set_state(S.MOUNTED)
        elif self.proc is not None and self.state is S.MOUNTING:
            self._set_state(S.MOUNTING_DONE)
        elif self.proc is None and self.state is S.MOUNTING_DONE:
            self._set_state(S.MOUNTING)
        elif self.proc is None and self.state is S.MOUNTED:
            self._enter_dead(R.SUCCESS)
        return self._resume_timeout()


TYPE = TypeDescriptor(UnitKind.MOUNT, Mount, "org.freedesktop.systemd1.Mount",
                      Context.EXEC | Context.KILL | Context.CGROUP, enumerate=enumerate_mounts,
                      loads_without_file=loads_without_file)
