"""btrfs builtin: `btrfs ready <devnode>` asks the kernel whether a multi-device volume is complete."""

import errno
import fcntl
import logging
import os
import struct

from sysmasterd.devmaster.builtin.registry import add_property
from sysmasterd.devmaster.event import UdevEvent

log = logging.getLogger("devmaster")
# _IOR(0x94, 39, struct btrfs_ioctl_vol_args): { __s64 fd; char name[4088]; }
BTRFS_IOC_DEVICES_READY = (2 << 30) | (4096 << 16) | (0x94 << 8) | 39


def run(event: UdevEvent, argv: list[str], test: bool) -> int:
    name = event.dev.sysname
    if len(argv) != 3 or argv[1] != "ready":
        log.error("%s: Invalid arguments", name)
        return -errno.EINVAL
    try:
        fd = os.open("/dev/btrfs-control", os.O_RDWR | os.O_CLOEXEC | os.O_NOCTTY)
    except OSError as e:
        if e.errno in (errno.ENOENT, errno.ENXIO, errno.ENODEV):
            # no btrfs driver (an initrd without it): not ready; a later trigger asks again
            add_property(event, "ID_BTRFS_READY", "0", test)
            return 0
        log.debug("%s: Failed to open /dev/btrfs-control: %s", name, e.strerror)
        return -(e.errno or errno.EIO)
    try:
        args = bytearray(struct.pack("<q", 0) + argv[2].encode()[:4087].ljust(4088, b"\0"))
        try:
            result = fcntl.ioctl(fd, BTRFS_IOC_DEVICES_READY, args)
        except OSError as e:
            log.debug("%s: Failed to call BTRFS_IOC_DEVICES_READY: %s", name, e.strerror)
            return -(e.errno or errno.EIO)
    finally:
        os.close(fd)
    add_property(event, "ID_BTRFS_READY", "1" if result == 0 else "0", test)
    return 0
