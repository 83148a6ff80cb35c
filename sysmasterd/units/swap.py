"""Swap units: systemd's swap.c. A unit per active swap area of /proc/swaps (no unit file needed),
followed as the kernel changes it; units from files (fstab's swap lines through the generator, or
written by hand) run /sbin/swapon and /sbin/swapoff as their control process.

As in systemd, the type is not supported in a container (and where /proc/swaps is missing): the
manager then makes no units of the kernel's swap areas, and starting one fails as unsupported,
so a container's manager never turns off the host's swap.
"""

from __future__ import annotations

import enum
import logging
import os
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING

from compat import unitname
from compat.config_swap import SwapSection, find_priority, swap_what
from compat.model import UnitKind
from sysmasterd.core import swaps
from sysmasterd.core.conditions import detect_virtualization
from sysmasterd.core.dependency import Dep
from sysmasterd.core.kill import KillPhase
from sysmasterd.core.mountinfo import MountinfoWatch
from sysmasterd.core.states import ActiveState, JobResult, JobType, LoadState
from sysmasterd.core.unittype import Context, OpResult, TypeDescriptor
from sysmasterd.units.kerneltable import KernelTableType
from sysmasterd.units.mount import add_node_dependency, require_mounts_for

if TYPE_CHECKING:
    from sysmasterd.core.manager import Manager
    from sysmasterd.core.unit import Unit

SWAPON_PATH = "/sbin/swapon"
SWAPOFF_PATH = "/sbin/swapoff"


class SwapState(enum.Enum):
    DEAD = "dead"
    ACTIVATING = "activating"
    ACTIVATING_DONE = "activating-done"
    ACTIVE = "active"
    DEACTIVATING = "deactivating"
    DEACTIVATING_SIGTERM = "deactivating-sigterm"
    DEACTIVATING_SIGKILL = "deactivating-sigkill"
    FAILED = "failed"


class SwapResult(enum.Enum):
    SUCCESS = "success"
    RESOURCES = "resources"
    TIMEOUT = "timeout"
    EXIT_CODE = "exit-code"
    SIGNAL = "signal"
    CORE_DUMP = "core-dump"
    START_LIMIT_HIT = "start-limit-hit"


S = SwapState
R = SwapResult
_ACTIVE_STATE = {
    S.DEAD: ActiveState.INACTIVE, S.ACTIVATING: ActiveState.ACTIVATING, S.ACTIVATING_DONE: ActiveState.ACTIVE,
    S.ACTIVE: ActiveState.ACTIVE, S.DEACTIVATING: ActiveState.DEACTIVATING,
    S.DEACTIVATING_SIGTERM: ActiveState.DEACTIVATING, S.DEACTIVATING_SIGKILL: ActiveState.DEACTIVATING,
    S.FAILED: ActiveState.FAILED,
}  # fmt: skip
_WITH_PROCESS = frozenset({S.ACTIVATING, S.ACTIVATING_DONE, S.DEACTIVATING, S.DEACTIVATING_SIGTERM,
                           S.DEACTIVATING_SIGKILL})
_DEACTIVATING = (S.DEACTIVATING, S.DEACTIVATING_SIGTERM, S.DEACTIVATING_SIGKILL)
EXEC_KINDS = ("ExecActivate", "ExecDeactivate")
_DONE_MESSAGES = {
    (JobType.START, JobResult.DONE): "Activated swap {}.",
    (JobType.START, JobResult.FAILED): "Failed to activate swap {}.",
    (JobType.START, JobResult.TIMEOUT): "Timed out activating swap {}.",
    (JobType.STOP, JobResult.DONE): "Deactivated swap {}.",
    (JobType.STOP, JobResult.FAILED): "Failed deactivating swap {}.",
    (JobType.STOP, JobResult.TIMEOUT): "Timed out deactivating swap {}.",
}  # fmt: skip


@dataclass(frozen=True)
class SwapParameters:
    what: str
    priority: int | None
    options: str | None


def supported() -> bool:
    """swap_supported(): /proc/swaps exists and this is no container."""
    return os.path.exists(swaps.PROC_SWAPS) and detect_virtualization()[0] != "container"


# -- the manager-wide part -------------------------------------------------------------------------

_WATCHES: weakref.WeakKeyDictionary[Manager, MountinfoWatch] = weakref.WeakKeyDictionary()
_ACTIVE: weakref.WeakKeyDictionary[Manager, dict[str, swaps.SwapEntry]] = weakref.WeakKeyDictionary()


def active_swaps(m: Manager) -> dict[str, swaps.SwapEntry]:
    """The kernel's swap areas by the name of their unit, as last read."""
    return _ACTIVE.setdefault(m, {})


def loads_without_file(u: Unit) -> bool:
    """swap_load(): a swap area the kernel reports needs no unit file."""
    return u.id in active_swaps(u.manager)


def enumerate_swaps(m: Manager) -> None:
    """swap_enumerate(): a unit for every active swap area, and the watch that keeps them current."""
    if not supported():
        m.log.debug("Unit type .swap is not supported on this system.")
        return
    if m not in _WATCHES:
        try:
            _WATCHES[m] = MountinfoWatch(m.loop, lambda: process_proc_swaps(m), m.log, swaps.PROC_SWAPS)
        except OSError as e:
            m.log.warning("Failed to open %s, ignoring: %s", swaps.PROC_SWAPS, e.strerror)
            return
    process_proc_swaps(m)


def process_proc_swaps(m: Manager) -> None:
    """Read /proc/swaps and bring every swap unit in line with it (swap_process_proc_swaps)."""
    try:
        entries = swaps.read()
    except OSError as e:
        m.log.error("Failed to reread %s: %s", swaps.PROC_SWAPS, e.strerror)
        return
    table: dict[str, swaps.SwapEntry] = {}
    for entry in entries:
        name = unitname.from_path(entry.what, "swap")
        if name is None:
            m.log.error("Failed to generate unit name from path: %s", entry.what)
            continue
        table[name] = entry
    _ACTIVE[m] = table
    for name, entry in table.items():
        u = m.get_unit(name)
        if u is None:
            u = m.load_unit(name)
        elif u.load_state is not LoadState.LOADED and u.job is None:
            u.apply_load(m.loader.load(u.id))  # known as not-found so far: now the kernel vouches for it
            if u.load_state is LoadState.LOADED:
                u.add_config_dependencies()
            u.notify_changed()
        if isinstance(u.impl, Swap):
            u.impl.set_proc(entry)
    for u in list(m.units_by_id().values()):
        if isinstance(u.impl, Swap):
            u.impl.follow_kernel(u.id in table)


# -- one swap unit ----------------------------------------------------------------------------------


class Swap(KernelTableType[SwapState, SwapResult]):
    ACTIVE_STATE = _ACTIVE_STATE
    DONE_MESSAGES = _DONE_MESSAGES
    ACTIVE = S.ACTIVE.value
    WITH_PROCESS = _WITH_PROCESS
    SIGNAL_STATES = frozenset({S.DEACTIVATING_SIGTERM, S.DEACTIVATING_SIGKILL})
    PROCESS = "Swap process"
    EXITED_LOG_LEVEL = logging.INFO  # systemd's LOG_NOTICE

    def __init__(self, unit: Unit) -> None:
        super().__init__(unit, SwapState, SwapResult)
        self.proc: SwapParameters | None = None  # from /proc/swaps while active
        self.just_activated = False

    # -- configuration ------------------------------------------------------------------------------

    @property
    def cfg(self) -> SwapSection:
        c = self.unit.config
        return c.swap if c is not None and c.swap is not None else SwapSection()

    @property
    def what(self) -> str:
        if self.unit.fragment_path and self.unit.config is not None:
            what = swap_what(self.unit.config)
            if what is not None:
                return what
        if self.proc is not None:
            return self.proc.what
        return unitname.to_path(self.unit.id) or ""

    def fragment_parameters(self) -> SwapParameters | None:
        if not self.unit.fragment_path:
            return None
        return SwapParameters(self.what, self.cfg.priority, self.cfg.options)

    def parameters(self) -> SwapParameters | None:
        """The kernel's view while active, else the unit file's (swap_get_parameters)."""
        return self.proc or self.fragment_parameters()

    def _timeout_setting(self) -> int | None:
        return self.cfg.timeout_usec

    def in_kernel(self) -> bool:
        return self.proc is not None

    # -- UnitType interface ---------------------------------------------------------------------------

    def is_extrinsic(self) -> bool:
        return not self.unit.manager.is_system

    def add_implicit_dependencies(self) -> None:
        """swap_add_extras(): description, the mounts the path needs, its device."""
        u, m = self.unit, self.unit.manager
        what = self.what
        if u.config is not None and not u.config.unit.description:
            u.config.unit.description = what
        if not u.fragment_path and u.id in active_swaps(m):
            u.source_path = swaps.PROC_SWAPS
        if not what:
            return
        require_mounts_for(u, what)
        if what.startswith("/dev/"):
            add_node_dependency(u, what, Dep.REQUIRES)
        else:
            # A swap file may need a writable file system.
            m.add_dependency(u, Dep.AFTER, "systemd-remount-fs.service")

    def add_default_dependencies(self) -> None:
        m, u = self.unit.manager, self.unit
        if not m.is_system or detect_virtualization()[0] == "container":
            return
        m.add_dependency(u, Dep.BEFORE, "swap.target")
        m.add_dependency(u, Dep.BEFORE, "umount.target")
        m.add_dependency(u, Dep.CONFLICTS, "umount.target")

    def start(self) -> OpResult:
        if self.state in _DEACTIVATING:
            return OpResult.AGAIN
        if self.state is S.ACTIVATING:
            return OpResult.STARTED
        if not supported():
            return OpResult.UNSUPPORTED
        refused = self._start_cycle()
        if refused is not None:
            return refused
        self._enter_activating()
        return OpResult.STARTED

    def stop(self) -> OpResult:
        st = self.state
        if st in _DEACTIVATING:
            return OpResult.STARTED
        if st in (S.ACTIVATING, S.ACTIVATING_DONE):
            self._enter_signal(S.DEACTIVATING_SIGTERM, R.SUCCESS)
        elif st is S.ACTIVE:
            if not supported():
                return OpResult.UNSUPPORTED
            self._enter_deactivating()
        else:
            return OpResult.ALREADY
        return OpResult.STARTED

    # -- following the kernel -------------------------------------------------------------------------

    def set_proc(self, entry: swaps.SwapEntry) -> None:
        self.just_activated = self.proc is None
        self.proc = SwapParameters(entry.what, entry.priority, self.cfg.options if self.unit.fragment_path else None)

    def follow_kernel(self, listed: bool) -> None:
        if not listed:
            if self.proc is None:
                return
            self.proc = None
            if self.state is S.ACTIVE:
                self._enter_dead(R.SUCCESS)  # turned off by someone else
            else:
                self.unit.notify_changed()
            return
        if not self.just_activated:
            return
        self.just_activated = False
        if self.state in (S.DEAD, S.FAILED):
            self.unit.new_invocation()  # turned on by someone else
            self._cycle_clear()
            self._enter_active(R.SUCCESS)
        elif self.state is S.ACTIVATING:
            self._set_state(S.ACTIVATING_DONE)
        else:
            self.unit.notify_changed()

    # -- state machine ----------------------------------------------------------------------------------

    def _swapon_options(self) -> str | None:
        """Options=, with Priority= added as pri= unless Options= has one (swap_enter_activating)."""
        m, uid = self.unit.manager, self.unit.id
        options, priority = self.cfg.options, self.cfg.priority
        try:
            in_options = find_priority(options) is not None
        except ValueError:
            m.log.warning("%s: Failed to parse swap priority \"%s\", ignoring: Invalid argument", uid, options)
            in_options = False
        if in_options and priority is not None:
            m.log.warning("%s: Duplicate swap priority configuration by Priority= and Options= fields.", uid)
        if priority is not None and not in_options:
            return f"{options},pri={priority}" if options else f"pri={priority}"
        return options

    def _enter_activating(self) -> None:
        argv = [SWAPON_PATH, "--fixpgsz"]
        options = self._swapon_options() if self.unit.fragment_path else None
        if options:
            argv += ["-o", options]
        self._run_control("ExecActivate", [*argv, self.what], S.ACTIVATING, "swapon")

    def _enter_deactivating(self) -> None:
        self._run_control("ExecDeactivate", [SWAPOFF_PATH, self.what], S.DEACTIVATING, "swapoff")

    def _enter_signal(self, state: S, result: R) -> None:
        phase = KillPhase.TERMINATE if state is S.DEACTIVATING_SIGTERM else KillPhase.KILL
        if self._kill_phase(state, result, phase):
            return
        if state is S.DEACTIVATING_SIGTERM and self._send_sigkill():
            self._enter_signal(S.DEACTIVATING_SIGKILL, R.SUCCESS)
        else:
            self._enter_dead_or_active(R.SUCCESS)

    def _on_timeout(self) -> None:
        m, uid, st = self.unit.manager, self.unit.id, self.state
        if st in (S.ACTIVATING, S.ACTIVATING_DONE):
            m.log.warning("%s: Activation timed out. Stopping.", uid)
            self._enter_signal(S.DEACTIVATING_SIGTERM, R.TIMEOUT)
        elif st is S.DEACTIVATING:
            m.log.warning("%s: Deactivation timed out. Stopping.", uid)
            self._enter_signal(S.DEACTIVATING_SIGTERM, R.TIMEOUT)
        elif st is S.DEACTIVATING_SIGTERM:
            if self._send_sigkill():
                m.log.warning("%s: Swap process timed out. Killing.", uid)
                self._enter_signal(S.DEACTIVATING_SIGKILL, R.TIMEOUT)
            else:
                m.log.warning("%s: Swap process timed out. Skipping SIGKILL. Ignoring.", uid)
                self._enter_dead_or_active(R.TIMEOUT)
        elif st is S.DEACTIVATING_SIGKILL:
            m.log.warning("%s: Swap process still around after SIGKILL. Ignoring.", uid)
            self._enter_dead_or_active(R.TIMEOUT)

    def child_exited(self, pid: int, status: int) -> bool:
        if pid != self.control_pid_ or not pid:
            return False
        # swapon/swapoff change the table before they exit; the watch may not have run yet.
        process_proc_swaps(self.unit.manager)
        f = self._control_exited(pid, status)
        self._keep_result(f)
        if self.state in (S.ACTIVATING, S.ACTIVATING_DONE):
            if f is R.SUCCESS or self.proc is not None:
                self._enter_active(f)
            else:
                self._enter_dead(f)
        elif self.state in _DEACTIVATING:
            self._enter_dead_or_active(f)
        self.unit.notify_changed()
        return True

    # -- persistence -------------------------------------------------------------------------------------

    def resume(self) -> bool:
        """After a restore: /proc/swaps is the truth (swap_coldplug), a running control process gets
        its timeout back."""
        if self.proc is not None and self.state in (S.DEAD, S.FAILED):
            self.unit.new_invocation()
            self._cycle_clear()
            self._set_state(S.ACTIVE)
        elif self.proc is not None and self.state is S.ACTIVATING:
            self._set_state(S.ACTIVATING_DONE)
        elif self.proc is None and self.state is S.ACTIVE:
            self._enter_dead(R.SUCCESS)
        return self._resume_timeout()


TYPE = TypeDescriptor(UnitKind.SWAP, Swap, "org.freedesktop.systemd1.Swap",
                      Context.EXEC | Context.KILL | Context.CGROUP, enumerate=enumerate_swaps,
                      loads_without_file=loads_without_file)
