"""A regular file on a loop device, for as long as something uses it: LOOP_CTL_GET_FREE, then
LOOP_CONFIGURE with LO_FLAGS_AUTOCLEAR, so the kernel unbinds it once the last user (the mount made
from it) is gone. Unlike systemd's loop_device_make(), a failure never removes a device from the
kernel's pool (LOOP_CTL_REMOVE): the host's /dev/loopN stay as they were."""

from __future__ import annotations

import errno
import fcntl
import os
import struct

_LOOP_CTL_GET_FREE = 0x4C82
_LOOP_CONFIGURE = 0x4C0A
_BLKROSET = 0x125D
_LO_FLAGS_READ_ONLY, _LO_FLAGS_AUTOCLEAR = 1, 4
# struct loop_config: fd, block_size, struct loop_info64 (232 bytes), 8 reserved u64
_INFO64 = struct.Struct("QQQQQIIII64s64s32sQQ")
_CONFIG = struct.Struct(f"II{_INFO64.size}s64x")
_TRIES = 10


def attach(path: str, read_only: bool) -> tuple[str, int]:
    """(device node, an fd on it) with the file bound; the caller closes the fd once it mounted
    the device (or gave up: the device then unbinds itself). Raises OSError.

    `read_only` asks for a device the caller mounts read-only. Where the file can be opened for
    writing the device is a writable one all the same: a read-only loop device stays marked
    read-only after it unbinds (on this kernel), and the next user who wants to write through it
    would then get EACCES from mount. A writable device clears such a mark another user left."""
    try:
        backing = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        writable = True
    except OSError as e:
        if not read_only or e.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise
        backing, writable = os.open(path, os.O_RDONLY | os.O_CLOEXEC), False
    try:
        control = os.open("/dev/loop-control", os.O_RDWR | os.O_CLOEXEC)
        try:
            for _ in range(_TRIES):
                number = fcntl.ioctl(control, _LOOP_CTL_GET_FREE)
                node = f"/dev/loop{number}"
                device = os.open(node, (os.O_RDWR if writable else os.O_RDONLY) | os.O_CLOEXEC)
                flags = _LO_FLAGS_AUTOCLEAR | (0 if writable else _LO_FLAGS_READ_ONLY)
                info = _INFO64.pack(0, 0, 0, 0, 0, 0, 0, 0, flags, os.fsencode(path)[:63], b"", b"", 0, 0)
                try:
                    fcntl.ioctl(device, _LOOP_CONFIGURE, _CONFIG.pack(backing, 0, info))
                except OSError as e:
                    os.close(device)
                    if e.errno == errno.EBUSY:  # taken by someone else since GET_FREE: the next one
                        continue
                    raise
                if writable:
                    fcntl.ioctl(device, _BLKROSET, struct.pack("i", 0))
                return node, device
            raise OSError(errno.EBUSY, "no free loop device")
        finally:
            os.close(control)
    finally:
        os.close(backing)  # the loop device holds the file now
