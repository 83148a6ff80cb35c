"""The device source: which devices udev knows, for device units (systemd's device_enumerate and
device_dispatch_io in device.c).

At start, the devices tagged `systemd` in udev's database (/run/udev, written by devmaster or
systemd-udevd) become plugged device units; a host where no udev ever ran (no control socket, no
tagged devices) gets its block devices and network interfaces from sysfs instead, with the tags
and properties 99-systemd.rules would have given them. After that, devmaster's libudev broadcasts
(netlink group 2, checked like libudev checks them, through devmaster's own receiver) plug and
unplug the units.
"""

from __future__ import annotations

import os
import shlex
import socket
from collections.abc import Iterator
from typing import TYPE_CHECKING

from compat import unitname
from sysmasterd.devmaster.device import Device as SysDevice
from sysmasterd.devmaster.device import DeviceNotFound
from sysmasterd.devmaster.framework import db, netlink
from sysmasterd.devmaster.framework.message import MessageError
from sysmasterd.devmaster.framework.socket_filter import attach_filter, build_filter
from sysmasterd.units.device import Device, Found, device_of, units_by_sysfs

if TYPE_CHECKING:
    from sysmasterd.core.manager import Manager

SYSFS = "/sys"
TAG = "systemd"
# Messages handled per wake-up: a storm must not starve the rest of the loop.
_BATCH = 256
_TRUE = ("1", "yes", "y", "true", "t", "on")
_FALSE = ("0", "no", "n", "false", "f", "off")
# 99-systemd.rules: block devices that exist but are not usable yet (an unbound loop device, an
# unconnected nbd, an md array not assembled) get SYSTEMD_READY=0 while the file is missing.
_NOT_READY_UNLESS = (("loop", "loop/backing_file"), ("nbd", "pid"), ("md", "md/array_state"))

Properties = dict[str, str]


def _tags(props: Properties) -> set[str]:
    # Without CURRENT_TAGS (udev before 247) the tags are the current ones.
    value = props.get("CURRENT_TAGS", props.get("TAGS", ""))
    return {t for t in value.split(":") if t}


def _bool(value: str | None) -> bool | None:
    if value is None:
        return None
    v = value.strip().lower()
    return True if v in _TRUE else False if v in _FALSE else None


def is_ready(props: Properties) -> bool:
    """systemd's device_is_ready(): tagged `systemd` now, not being renamed, not SYSTEMD_READY=0."""
    if props.get("ACTION") == "remove":
        return False
    if _bool(props.get("ID_RENAMING")):
        return False
    if TAG not in _tags(props):
        return False
    # A value that is not a boolean counts as ready, as in systemd.
    return _bool(props.get("SYSTEMD_READY")) is not False


def _description(props: Properties, path: str) -> str:
    model = props.get("ID_MODEL_FROM_DATABASE") or props.get("ID_MODEL")
    if not model:
        return path
    label = props.get("ID_FS_LABEL") or props.get("ID_PART_ENTRY_NAME") or props.get("ID_PART_ENTRY_NUMBER")
    return f"{model} {label}" if label else model


def _safe_absolute(path: str) -> bool:
    return path.startswith("/") and ".." not in path.split("/")


class DeviceSource:
    def __init__(self, manager: Manager, run_udev: str = db.RUN_UDEV) -> None:
        self.m = manager
        self.run_udev = run_udev
        self.sock: socket.socket | None = None
        self.wants_property = "SYSTEMD_WANTS" if manager.is_system else "SYSTEMD_USER_WANTS"

    @classmethod
    def start(cls, manager: Manager) -> DeviceSource:
        """Listen for udev's events now; enumerate once the loop runs, that is after the manager
        restored its state, so that a device gone while no core ran is seen gone (systemd's
        enumerate, then coldplug, then catchup)."""
        source = cls(manager)
        source.open_monitor()
        manager.loop.call_soon(source.enumerate)
        return source

    # -- the monitor ---------------------------------------------------------------------------

    def open_monitor(self) -> None:
        try:
            sock = netlink.open_uevent_socket(netlink.GROUP_UDEV)
        except OSError as e:
            self.m.log.warning("Failed to open the udev monitor, device units follow no events: %s", e.strerror)
            return
        try:
            attach_filter(sock, build_filter([], [TAG]))
        except OSError as e:  # the filter only saves wake-ups: everything is checked below anyway
            self.m.log.debug("Failed to attach the udev tag filter: %s", e.strerror)
        self.sock = sock
        self.m.loop.add_reader(sock.fileno(), self._on_readable)

    def close(self) -> None:
        if self.sock is not None:
            self.m.loop.remove_reader(self.sock.fileno())
            self.sock.close()
            self.sock = None

    def _on_readable(self) -> None:
        sock = self.sock
        if sock is None:
            return
        for _ in range(_BATCH):
            try:
                received = netlink.receive(sock, netlink.GROUP_UDEV)
            except BlockingIOError:
                return
            except MessageError as e:
                self.m.log.debug("udev monitor: %s", e)
                continue
            except OSError as e:
                # ENOBUFS: events were lost; what changed meanwhile shows with the next event.
                self.m.log.warning("udev monitor: %s", e.strerror)
                continue
            if received.header is None:
                continue  # only udev's own broadcasts count, never a raw kernel message
            try:
                self.dispatch(received.properties)
            except Exception:  # one odd event must not take the manager down
                self.m.log.exception("Failed to process udev event for %s", received.properties.get("DEVPATH"))

    def dispatch(self, props: Properties) -> None:
        """One udev event (systemd's device_dispatch_io)."""
        action = props.get("ACTION", "")
        syspath = SYSFS + props["DEVPATH"]
        self.m.log.debug("%s: Processing udev action %s", syspath, action)
        if action == "move" and props.get("DEVPATH_OLD"):
            self.update_found_by_sysfs(SYSFS + props["DEVPATH_OLD"], Found.NONE, Found.ALL)
        ready, not_ready = self.setup_units(props)
        if action == "remove":
            # Gone for udev means gone: whoever else still names it is told by the kernel later.
            self.update_found_by_sysfs(syspath, Found.NONE, Found.ALL)
        for d in ready:
            d.update_found(Found.UDEV, Found.UDEV)
        for d in not_ready:
            d.update_found(Found.NONE, Found.UDEV)

    def update_found_by_sysfs(self, sysfs: str, found: Found, mask: Found) -> None:
        for d in units_by_sysfs(self.m, sysfs):
            d.update_found(found, mask)

    # -- names and units -----------------------------------------------------------------------

    def _by_path(self, path: str | None) -> Device | None:
        name = unitname.from_path(path, "device") if path else None
        return device_of(self.m.get_unit(name)) if name else None

    def _setup_unit(self, props: Properties, path: str, main: bool, into: list[Device]) -> None:
        name = unitname.from_path(path, "device")
        if name is None:
            self.m.log.warning("Failed to generate valid unit name from device path '%s', ignoring device.", path)
            return
        d = device_of(self.m.get_unit(name) or self.m.load_unit(name))
        if d is None:  # masked, or a file that failed to load: the name is not a device unit now
            return
        if not d.path:
            d.path = path
        d.set_sysfs(SYSFS + props["DEVPATH"])
        if main:
            d.set_wants(props.get(self.wants_property))
        d.set_description(_description(props, path))
        if d not in into:
            into.append(d)

    def setup_units(self, props: Properties) -> tuple[list[Device], list[Device]]:
        """The units of every name of the device, split into those it is ready for and those it
        is not (systemd's device_setup_units and device_setup_extra_units)."""
        syspath = SYSFS + props["DEVPATH"]
        devname = props.get("DEVNAME")
        if devname and not devname.startswith("/"):
            devname = "/dev/" + devname
        ready_now = is_ready(props)
        ready: list[Device] = []
        not_ready: list[Device] = []
        if props.get("ACTION") == "remove":
            pass  # the main and node units go with everything under the sysfs path
        elif ready_now:
            self._setup_unit(props, syspath, True, ready)
            if devname:
                self._setup_unit(props, devname, False, ready)
        else:
            for path in (syspath, devname):
                d = self._by_path(path)
                if d is not None:
                    not_ready.append(d)
        # /dev/block/ and /dev/char/ links are neither persistent nor predictable: no units.
        links = [link for link in props.get("DEVLINKS", "").split()
                 if not link.startswith(("/dev/block/", "/dev/char/"))]
        for link in links:
            if ready_now:
                self._setup_unit(props, link, False, ready)
            else:
                gone = self._by_path(link)
                if gone is not None:
                    not_ready.append(gone)
        aliases: list[str] = []
        if ready_now and props.get("SYSTEMD_ALIAS"):
            try:
                aliases = shlex.split(props["SYSTEMD_ALIAS"])
            except ValueError:
                self.m.log.warning("%s: Failed to parse SYSTEMD_ALIAS property, ignoring.", syspath)
        for alias in aliases:
            if not _safe_absolute(alias):
                self.m.log.warning("%s: The alias \"%s\" specified in SYSTEMD_ALIAS is not an absolute path "
                                   "or not safe, ignoring.", syspath, alias)
                continue
            self._setup_unit(props, alias, False, ready)
        # Names the device went by and no longer does (a link or alias a change dropped).
        current = {syspath, devname, *links, *aliases}
        for d in units_by_sysfs(self.m, syspath):
            if d.path and d.path not in current and d not in not_ready:
                not_ready.append(d)
        for d in not_ready:
            if d in ready:
                self.m.log.error("%s: Cannot activate and deactivate the unit simultaneously. Deactivating.",
                                 d.unit.id)
                ready.remove(d)
        return ready, not_ready

    # -- enumeration ---------------------------------------------------------------------------

    def enumerate(self) -> None:
        seen: set[int] = set()
        for props in self.known_devices():
            try:
                ready, not_ready = self.setup_units(props)
            except Exception:
                self.m.log.exception("Failed to set up device units for %s", props.get("DEVPATH"))
                continue
            for d in ready:
                d.update_found(Found.UDEV, Found.UDEV)
                seen.add(id(d))
            for d in not_ready:
                d.update_found(Found.NONE, Found.UDEV)
        # Catching up: units restored as plugged whose device went while no core ran.
        for u in list(self.m.units_by_id().values()):
            restored = device_of(u)
            if restored is not None and id(restored) not in seen and Found.UDEV in restored.found:
                restored.update_found(Found.NONE, Found.UDEV)

    def udev_ran(self) -> bool:
        if os.path.exists(os.path.join(self.run_udev, "control")):
            return True
        try:
            return bool(os.listdir(os.path.join(self.run_udev, "tags", TAG)))
        except OSError:
            return False

    def known_devices(self) -> Iterator[Properties]:
        """Each device tagged `systemd`, as a libudev client sees its properties."""
        if self.udev_ran():
            yield from self._from_database()
        else:
            self.m.log.info("No udev database, enumerating block devices and network interfaces from sysfs.")
            yield from self._from_sysfs()

    def _from_database(self) -> Iterator[Properties]:
        try:
            ids = sorted(os.listdir(os.path.join(self.run_udev, "tags", TAG)))
        except OSError:
            return
        for device_id in ids:
            record = db.read_db(device_id, self.run_udev)
            if record is None:
                continue
            try:
                dev = SysDevice.from_device_id(device_id)
            except (DeviceNotFound, ValueError, OSError):
                continue  # the database outlived the device
            db.load_into(dev, record)
            yield dev.all_properties()

    def _from_sysfs(self) -> Iterator[Properties]:
        for subsystem in ("block", "net"):
            base = os.path.join(SYSFS, "class", subsystem)
            try:
                names = sorted(os.listdir(base))
            except OSError:
                continue
            for name in names:
                if subsystem == "net" and name == "lo":
                    continue
                try:
                    dev = SysDevice.from_syspath(os.path.join(base, name))
                except (DeviceNotFound, OSError):
                    continue
                props = dev.all_properties()
                props["TAGS"] = props["CURRENT_TAGS"] = f":{TAG}:"
                if subsystem == "net":
                    props["SYSTEMD_ALIAS"] = f"/sys/subsystem/net/devices/{name}"
                elif props.get("DEVTYPE") == "disk":
                    for prefix, needed in _NOT_READY_UNLESS:
                        if name.startswith(prefix) and not os.path.exists(os.path.join(dev.syspath, needed)):
                            props["SYSTEMD_READY"] = "0"
                yield props
