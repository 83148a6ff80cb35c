"""Device units: what udev (devmaster) knows about a device tagged `systemd`, as systemd's device.c.

A device is seen under several names: its sysfs path (the main unit), its node, its symlinks and
its SYSTEMD_ALIAS paths. Each name is a unit of its own, all sharing the device's sysfs path and
following the sysfs-named one, as in systemd, so that a dependency on any of them works and
`systemctl status` answers for each. Device units cannot be started or stopped: a start job waits
for the device to appear, a stop job for it to go, both for at most DefaultDeviceTimeoutSec.

Where the devices come from (udev's database, the libudev monitor, sysfs when no devmaster runs)
is sysmasterd.core.devices; this module is the state machine and the names' bookkeeping.
"""

from __future__ import annotations

import enum
import os
import shlex
import weakref
from typing import TYPE_CHECKING, Any

from compat import unitname
from compat.model import USEC_INFINITY, JobMode, UnitKind
from sysmasterd.core import errors
from sysmasterd.core.dependency import Dep
from sysmasterd.core.states import ActiveState, JobResult, JobState, JobType
from sysmasterd.core.unittype import OpResult, TypeDescriptor
from sysmasterd.units.base import TypeBase

if TYPE_CHECKING:
    import asyncio

    from sysmasterd.core.manager import Manager
    from sysmasterd.core.unit import Unit

# systemd's DefaultDeviceTimeoutSec= default; a unit's JobRunningTimeoutSec= overrides it.
DEFAULT_DEVICE_TIMEOUT_USEC = 90_000_000


class DeviceState(enum.Enum):
    DEAD = "dead"
    TENTATIVE = "tentative"
    PLUGGED = "plugged"


_ACTIVE_STATE = {DeviceState.DEAD: ActiveState.INACTIVE, DeviceState.TENTATIVE: ActiveState.ACTIVATING,
                 DeviceState.PLUGGED: ActiveState.ACTIVE}


class Found(enum.Flag):
    """Who reports the device: udev, /proc/self/mountinfo, /proc/swaps (systemd's DeviceFound)."""

    NONE = 0
    UDEV = enum.auto()
    MOUNT = enum.auto()
    SWAP = enum.auto()
    ALL = UDEV | MOUNT | SWAP


_FOUND_NAMES = {Found.UDEV: "found-udev", Found.MOUNT: "found-mount", Found.SWAP: "found-swap"}


def _found_to_list(found: Found) -> list[str]:
    return [name for flag, name in _FOUND_NAMES.items() if flag in found]


def _found_from_list(names: list[str]) -> Found:
    found = Found.NONE
    for flag, name in _FOUND_NAMES.items():
        if name in names:
            found |= flag
    return found


class Registry:
    """The device units of one manager by sysfs path (systemd's devices_by_sysfs): the names one
    device goes by, newest first, as systemd's same_sysfs list."""

    def __init__(self) -> None:
        self.by_sysfs: dict[str, list[str]] = {}

    def add(self, sysfs: str, name: str) -> None:
        names = self.by_sysfs.setdefault(sysfs, [])
        if name not in names:
            names.insert(0, name)

    def remove(self, sysfs: str, name: str) -> None:
        names = self.by_sysfs.get(sysfs)
        if names is not None and name in names:
            names.remove(name)
            if not names:
                del self.by_sysfs[sysfs]


_REGISTRIES: weakref.WeakKeyDictionary[Manager, Registry] = weakref.WeakKeyDictionary()


def registry(m: Manager) -> Registry:
    reg = _REGISTRIES.get(m)
    if reg is None:
        reg = _REGISTRIES[m] = Registry()
    return reg


def device_of(u: Unit | None) -> Device | None:
    return u.impl if u is not None and isinstance(u.impl, Device) else None


def units_by_sysfs(m: Manager, sysfs: str) -> list[Device]:
    out = []
    for name in list(registry(m).by_sysfs.get(sysfs, ())):
        d = device_of(m.get_unit(name))
        if d is not None:
            out.append(d)
    return out


class Device(TypeBase):
    def __init__(self, unit: Unit) -> None:
        super().__init__(unit)
        self.state = DeviceState.DEAD
        self.found = Found.NONE
        self.sysfs = ""  # the device this name points at now ("" while nobody saw it)
        self.path = ""  # what the name stands for: the sysfs path, node, symlink or alias
        self.wants_property: list[str] = []  # the units SYSTEMD_WANTS / SYSTEMD_USER_WANTS named
        self.udev_description = ""
        self._wait_timer: asyncio.TimerHandle | None = None

    # -- state ---------------------------------------------------------------------------------

    def active_state(self) -> ActiveState:
        return _ACTIVE_STATE[self.state]

    def sub_state(self) -> str:
        return self.state.value

    def following(self) -> Unit | None:
        """The unit named after the sysfs path, whose state the others mirror (systemd's
        device_following): none for that unit itself or a device nobody saw."""
        if self.unit.id.startswith("sys-") or not self.sysfs:
            return None
        others = [n for n in registry(self.unit.manager).by_sysfs.get(self.sysfs, ()) if n != self.unit.id]
        for name in others:
            if name.startswith("sys-"):
                return self.unit.manager.get_unit(name)
        return self.unit.manager.get_unit(others[-1]) if others else None

    def set_state(self, state: DeviceState) -> None:
        old = self.state
        self.state = state
        if state is DeviceState.DEAD:
            self.set_sysfs("")
        if state is not old:
            self.unit.manager.log.debug("%s: Changed %s -> %s", self.unit.id, old.value, state.value)
            self._disarm()
        self.unit.notify()

    def update_found(self, found: Found, mask: Found) -> None:
        """Set the `mask` bits of who reports the device to those of `found` (systemd's
        device_update_found_one for a running manager)."""
        new = (self.found & ~mask) | (found & mask)
        if new == self.found:
            return
        previous, self.found = self.found, new
        if previous == Found.NONE and new != Found.NONE:
            self.unit.new_invocation()
        if Found.UDEV in new:
            self.set_state(DeviceState.PLUGGED)
        elif new != Found.NONE and Found.UDEV not in previous:
            # The kernel knows it (a mount names it); udev may soon.
            self.set_state(DeviceState.TENTATIVE)
        else:
            # Nobody sees it, or only the kernel still refers to what udev already saw go.
            self.set_state(DeviceState.DEAD)

    def set_sysfs(self, sysfs: str) -> None:
        if sysfs == self.sysfs:
            return
        reg = registry(self.unit.manager)
        if self.sysfs:
            reg.remove(self.sysfs, self.unit.id)
        self.sysfs = sysfs
        if sysfs:
            reg.add(sysfs, self.unit.id)
        self.unit.notify_changed()

    # -- what udev says about the device -------------------------------------------------------

    def set_description(self, text: str) -> None:
        self.udev_description = text
        self._apply_description()

    def _apply_description(self) -> None:
        # systemd replaces the unit's description, a Description= from a file included; until
        # udev says something, the description is the path the name stands for.
        cfg = self.unit.config
        if cfg is None:
            return
        text = self.udev_description
        if not text and not cfg.unit.description:
            try:
                text = unitname.path_unescape(self.unit.id.removesuffix(".device"))
            except ValueError:
                return
        if text:
            cfg.unit.description = text

    def set_wants(self, value: str | None) -> None:
        """SYSTEMD_WANTS= (SYSTEMD_USER_WANTS= for a user manager) of the main unit: Wants=
        dependencies in place of the previous ones; a device already up starts what is new."""
        u, m = self.unit, self.unit.manager
        names: list[str] = []
        try:
            words = shlex.split(value or "")
        except ValueError:
            m.log.error("%s: Failed to parse udev wants property: %s", u.id, value)
            words = []
        for word in words:
            if unitname.is_valid(word, plain=False, instance=False) and self.sysfs:
                # A template gets the device's escaped sysfs path as its instance.
                name = unitname.try_instantiate(word, unitname.path_escape(self.sysfs))
            else:
                name = unitname.mangle(word)
            if name is None:
                m.log.error("%s: Failed to make a unit name of '%s' in the udev wants property.", u.id, word)
            elif name not in names:
                names.append(name)
        configured = set(u.config.unit.wants) if u.config is not None else set()
        for old in self.wants_property:
            if old not in names and old not in configured:
                u.deps[Dep.WANTS].discard(old)
                other = m.get_unit(old)
                if other is not None:
                    other.deps[Dep.WANTED_BY].discard(u.id)
        self._add_wants(names)
        if self.state is not DeviceState.DEAD:
            # The property changed while the device is up (rules added it at a later
            # coldplug): what was listed already and runs stays, the rest starts now. A device
            # coming up starts its wants through the usual dead -> plugged path instead.
            for name in names:
                other = m.get_unit(name)
                if name in self.wants_property and other is not None and other.active_state.is_active_or_reloading():
                    continue
                try:
                    m.engine.add_job(name, JobType.START, JobMode.FAIL, manual=False)
                except errors.ManagerError as e:
                    m.log.warning("%s: Failed to enqueue udev wants job, ignoring: %s", u.id, e.message)
        self.wants_property = names

    def _add_wants(self, names: list[str]) -> None:
        m = self.unit.manager
        for name in names:
            # Loaded now, not left a stub in the load queue: a job may be queued on it at once.
            m.load_unit(name)
            m.add_dependency(self.unit, Dep.WANTS, name)

    # -- loading -------------------------------------------------------------------------------

    def add_implicit_dependencies(self) -> None:
        # daemon-reload drops every dependency and re-reads the files; what udev said stays.
        for name in self.wants_property:
            self.unit.manager.add_dependency(self.unit, Dep.WANTS, name)
        self._apply_description()

    # -- jobs: a device cannot be started or stopped, its jobs wait --------------------------

    def start(self) -> OpResult:
        self._arm()
        return OpResult.STARTED

    def stop(self) -> OpResult:
        if self.unit.manager.shutting_down:
            # systemd never stops devices on the way down (they do not conflict with
            # shutdown.target); the manager's stop-everything must not wait for them to vanish.
            return OpResult.ALREADY
        self._arm()
        return OpResult.STARTED

    def _arm(self) -> None:
        self._disarm()
        job = self.unit.job
        if job is None:
            return
        cfg = self.unit.config
        timeout = cfg.unit.job_running_timeout_usec if cfg is not None else USEC_INFINITY
        if timeout == USEC_INFINITY:
            timeout = DEFAULT_DEVICE_TIMEOUT_USEC
        if timeout == 0:
            return
        m = self.unit.manager
        self._wait_timer = m.loop.call_later(timeout / 1e6, self._timed_out, job.id)

    def _disarm(self) -> None:
        if self._wait_timer is not None:
            self._wait_timer.cancel()
            self._wait_timer = None

    def _timed_out(self, job_id: int) -> None:
        self._wait_timer = None
        job = self.unit.job
        if job is None or job.id != job_id or job.state is not JobState.RUNNING:
            return
        m = self.unit.manager
        m.log.warning("%s: Job %s/%s timed out.", self.unit.id, self.unit.id, job.type.value)
        m.engine.finish_job(job, JobResult.TIMEOUT)

    def job_done_message(self, job_type: JobType, result: JobResult) -> str | None:
        if job_type is not JobType.START:
            return None
        return {JobResult.DONE: "Found device {}.", JobResult.TIMEOUT: "Timed out waiting for device {}."}.get(result)

    # -- persistence ---------------------------------------------------------------------------

    def serialize(self) -> dict[str, Any]:
        return {"state": self.state.value, "found": _found_to_list(self.found), "sysfs": self.sysfs,
                "path": self.path, "wants": self.wants_property, "description": self.udev_description}

    def deserialize(self, data: dict[str, Any]) -> None:
        try:
            self.state = DeviceState(data.get("state", "dead"))
        except ValueError:
            self.state = DeviceState.DEAD
        self.found = _found_from_list(list(data.get("found", [])))
        self.path = self.path or str(data.get("path", ""))
        self.wants_property = [str(n) for n in data.get("wants", [])]
        self._add_wants(self.wants_property)
        if self.state is not DeviceState.DEAD:
            self.set_sysfs(str(data.get("sysfs", "")))
        self.set_description(str(data.get("description", "")))


def _enumerate(m: Manager) -> None:
    from sysmasterd.core.devices import DeviceSource

    if not devices_supported():
        m.log.debug("/sys is read-only (a container): no device units, as in systemd.")
        return
    DeviceSource.start(m)


def devices_supported(sys_path: str = "/sys") -> bool:
    """systemd's device_supported(): with /sys read-only (containers) nothing reports devices."""
    try:
        return not os.statvfs(sys_path).f_flag & os.ST_RDONLY
    except OSError:
        return False


TYPE = TypeDescriptor(UnitKind.DEVICE, Device, "org.freedesktop.systemd1.Device", enumerate=_enumerate,
                      ignored_on_isolate=True)
