"""What a worker does with one uevent: udev_event_execute_rules() + RUN, then the result."""

import errno
import fcntl
import logging
import os
import signal
import struct
import time
from typing import Protocol

from sysmasterd.devmaster import node
from sysmasterd.devmaster.device import Device
from sysmasterd.devmaster.event import EventSettings, UdevEvent
from sysmasterd.devmaster.framework import db, watch
from sysmasterd.devmaster.rules.netif import rename_netif

log = logging.getLogger("devmaster")


class RuleProgram(Protocol):
    """Rules ready to run: the executor over the translator's compiled program."""

    def apply(self, event: UdevEvent) -> None: ...

    def execute_run(self, event: UdevEvent) -> None: ...

    def prepare(self) -> None: ...

    def changed(self) -> bool: ...

    def apply_static_nodes(self, run_dir: str) -> None: ...


def now_usec() -> int:
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000


def new_event(properties: dict[str, str], settings: EventSettings) -> UdevEvent:
    dev = Device.from_uevent(properties)
    for key, value in settings.extra_env.items():
        if value:
            dev.properties[key] = value
        else:
            dev.properties.pop(key, None)
    return UdevEvent(dev, settings)


def _on_remove(event: UdevEvent, rules: RuleProgram) -> None:
    dev, run_dir = event.dev, event.settings.run_dir
    rec = db.read_db(dev.device_id, run_dir)
    if rec is not None:
        db.load_into(dev, rec)
    db.update_tag_index(dev.device_id, set(dev.tags), set(), run_dir)
    db.delete_db(dev.device_id, run_dir)
    rules.apply(event)
    if dev.devnum is not None:
        node.node_remove(dev, run_dir)


def execute_rules(event: UdevEvent, rules: RuleProgram) -> None:
    dev, run_dir = event.dev, event.settings.run_dir
    if event.action == "remove":
        _on_remove(event, rules)
        return
    old = db.read_db(dev.device_id, run_dir)
    event.old = old
    if old is not None:
        dev.tags.update(old.tags)
        if event.action == "move":
            for key, value in old.properties.items():
                dev.set_property(key, value)
    rules.apply(event)
    rename_netif(event)
    if dev.devnum is not None:
        node.apply_permissions(dev, event.mode, event.uid, event.gid)
        node.node_update(dev, set(old.devlinks) if old else set(), run_dir)
    dev.usec_initialized = old.usec_initialized if old and old.usec_initialized else now_usec()
    db.update_tag_index(dev.device_id, set(old.tags) if old else set(), dev.tags, run_dir)
    db.write_db(dev, run_dir)


class DeviceLocked(Exception):
    """Someone holds an exclusive BSD lock on the whole disk: try the event again later."""


def _whole_disk(dev: Device) -> str | None:
    if dev.action == "remove" or dev.subsystem != "block" or dev.sysname.startswith(("dm-", "md", "drbd")):
        return None
    disk = dev.parent if dev.devtype == "partition" else dev
    return disk.devname if disk is not None else None


def lock_whole_disk(dev: Device) -> int | None:
    """udevd's shared lock on the whole disk while rules run (systemd.io/BLOCK_DEVICE_LOCKING)."""
    devname = _whole_disk(dev)
    if devname is None:
        return None
    try:
        fd = os.open(devname, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY)
    except OSError as e:
        if e.errno in (errno.ENOENT, errno.ENODEV, errno.ENXIO):
            return None
        raise
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise DeviceLocked(devname) from None
    return fd


BLKROSET = 0x125D
_SYNTHETIC_BLOCK = ("dm-", "md", "drbd", "loop", "nbd", "zram")


def wants_read_only(dev: Device, settings: EventSettings) -> bool:
    """udev.blockdev_read_only: a physical block device, once, when it appears (a later
    retrigger must not undo an admin's `blockdev --setrw`)."""
    return settings.blockdev_read_only and dev.action == "add" and dev.subsystem == "block" \
        and not dev.sysname.startswith(_SYNTHETIC_BLOCK) and dev.devname is not None


def mark_read_only(dev: Device) -> None:
    assert dev.devname is not None
    try:
        fd = os.open(dev.devname, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY)
    except OSError as e:
        log.debug("%s: Failed to open '%s', ignoring: %s", dev.sysname, dev.sysname, e.strerror)
        return
    try:
        fcntl.ioctl(fd, BLKROSET, struct.pack("i", 1))
        log.info("%s: Successfully marked block device '%s' read-only.", dev.sysname, dev.sysname)
    except OSError as e:
        log.warning("%s: Failed to mark block device '%s' read-only: %s", dev.sysname, dev.sysname, e.strerror)
    finally:
        os.close(fd)


def process(properties: dict[str, str], rules: RuleProgram, settings: EventSettings) -> UdevEvent:
    """Run rules and RUN for one kernel event; the event's device is what gets broadcast.

    Raises DeviceLocked (requeue) or OSError (the event fails with that errno).
    """
    event = new_event(properties, settings)
    level = log.level
    lock = lock_whole_disk(event.dev)
    inotify = settings.inotify_fd
    try:
        if wants_read_only(event.dev, settings):
            mark_read_only(event.dev)
        if inotify >= 0 and event.dev.devname:
            # no watch while rules run: they may open the node for writing themselves
            watch.watch_end(inotify, event.dev, settings.run_dir)
        execute_rules(event, rules)
        rules.execute_run(event)
        if inotify >= 0 and event.inotify_watch and event.action != "remove":
            watch.watch_begin(inotify, event.dev, settings.run_dir)
    finally:
        if lock is not None:
            os.close(lock)
        log.setLevel(level)  # OPTIONS+="log_level=" lasts for one event
    return event


def failure_properties(properties: dict[str, str], signal_number: int | None = None,
                       exit_status: int | None = None, errno_number: int | None = None) -> dict[str, str]:
    """The kernel's properties, marked the way udevd marks an event whose worker failed."""
    props = dict(properties)
    props["UDEV_WORKER_FAILED"] = "1"
    if signal_number is not None:
        props["UDEV_WORKER_SIGNAL"] = str(signal_number)
        try:
            props["UDEV_WORKER_SIGNAL_NAME"] = signal.Signals(signal_number).name.removeprefix("SIG")
        except ValueError:
            pass
    if exit_status is not None:
        props["UDEV_WORKER_EXIT_STATUS"] = str(exit_status)
    if errno_number is not None:
        props["UDEV_WORKER_ERRNO"] = str(errno_number)
        if errno_number in errno.errorcode:
            props["UDEV_WORKER_ERRNO_NAME"] = errno.errorcode[errno_number]
    return props
