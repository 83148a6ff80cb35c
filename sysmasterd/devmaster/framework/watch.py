"""OPTIONS+="watch": inotify IN_CLOSE_WRITE on device nodes, bookkept under /run/udev/watch.

The manager owns the inotify instance; workers inherit its fd across fork and
add/remove watches on it, as udevd's workers do. /run/udev/watch/<id> -> wd and
/run/udev/watch/<wd> -> id let the manager map an inotify event to a device.
"""

import contextlib
import ctypes
import logging
import os
import struct
from collections.abc import Iterator

from sysmasterd.devmaster.device import Device

log = logging.getLogger("devmaster")
IN_CLOSE_WRITE = 0x08
IN_IGNORED = 0x8000
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC
_EVENT = struct.Struct("iIII")
_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return result


def inotify_init() -> int:
    return _check(_libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC), "inotify_init1")


def read_events(fd: int) -> Iterator[tuple[int, int]]:
    """(wd, mask) of every queued event."""
    while True:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        offset = 0
        while offset + _EVENT.size <= len(data):
            wd, mask, _, length = _EVENT.unpack_from(data, offset)
            offset += _EVENT.size + length
            yield wd, mask


def _dir(run_dir: str) -> str:
    path = os.path.join(run_dir, "watch")
    os.makedirs(path, mode=0o755, exist_ok=True)
    return path


def watch_end(fd: int, dev: Device, run_dir: str) -> None:
    wdir = _dir(run_dir)
    link = os.path.join(wdir, dev.device_id)
    try:
        wd = int(os.readlink(link))
    except (OSError, ValueError):
        return
    with contextlib.suppress(OSError):
        _libc.inotify_rm_watch(fd, wd)
    for path in (link, os.path.join(wdir, str(wd))):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def watch_begin(fd: int, dev: Device, run_dir: str) -> None:
    if not dev.devname:
        return
    watch_end(fd, dev, run_dir)
    wdir = _dir(run_dir)
    log.debug("%s: Adding watch on '%s'", dev.sysname, dev.devname)
    wd = _libc.inotify_add_watch(fd, dev.devname.encode(), IN_CLOSE_WRITE)
    if wd < 0:
        log.debug("%s: Failed to watch device node '%s': %s", dev.sysname, dev.devname,
                  os.strerror(ctypes.get_errno()))
        return
    os.symlink(str(wd), os.path.join(wdir, dev.device_id))
    with contextlib.suppress(FileNotFoundError):
        os.unlink(os.path.join(wdir, str(wd)))
    os.symlink(dev.device_id, os.path.join(wdir, str(wd)))


def device_of(wd: int, run_dir: str) -> str | None:
    try:
        return os.readlink(os.path.join(run_dir, "watch", str(wd)))
    except OSError:
        return None


def forget(wd: int, run_dir: str) -> None:
    """The kernel dropped the watch (node gone): drop our bookkeeping."""
    device_id = device_of(wd, run_dir)
    for name in (str(wd), device_id):
        if name:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(run_dir, "watch", name))


def synthesize_change(device_id: str) -> None:
    """What a close-after-write means: ask the kernel for a change event of the device."""
    try:
        dev = Device.from_device_id(device_id)
    except (LookupError, ValueError):
        return
    log.debug("%s: device closed after writing, synthesizing 'change'", dev.sysname)
    with contextlib.suppress(OSError), open(os.path.join(dev.syspath, "uevent"), "w") as f:
        f.write("change")


def restore(fd: int, run_dir: str) -> None:
    """Re-add the watches a previous devmaster/udevd left in /run/udev/watch."""
    wdir = os.path.join(run_dir, "watch")
    try:
        names = os.listdir(wdir)
    except OSError:
        return
    for name in names:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(wdir, name))
    for name in names:
        if name.isdigit():
            continue
        try:
            dev = Device.from_device_id(name)
        except (LookupError, ValueError):
            continue
        watch_begin(fd, dev, run_dir)
