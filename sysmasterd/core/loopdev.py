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
_LO_FLAGS_READ_ONLY, _LO_FLAGS_AUTOCLEAR = 1, 4
# struct loop_config: fd, block_size, struct loop_info64 (232 bytes), 8 reserved u64
_INFO64 = struct.Struct("QQQQQIIII64s64s32sQQ")
_CONFIG = struct.Struct(f"II{_INFO64.size}s64x")
_TRIES = 10


def attach(path: str, read_only: bool) -> tuple[str, int]:
    """(device node, an fd on it) with the file bound; the caller closes the fd once it mounted
    the device (or gave up: the device then unbinds itself). Raises OSError."""
    backing = os.open(path, (os.O_RDONLY if read_only else os.O_RDWR) | os.O_CLOEXEC)
    try:
        control = os.open("/dev/loop-control", os.O_RDWR | os.O_CLOEXEC)
        try:
            for _ in range(_TRIES):
                number = fcntl.ioctl(control, _LOOP_CTL_GET_FREE)
                node = f"/dev/loop{number}"
                device = os.open(node, (os.O_RDONLY if read_only else os.O_RDWR) | os.O_CLOEXEC)
                flags = _LO_FLAGS_AUTOCLEAR | (_LO_FLAGS_READ_ONLY if read_only else 0)
                info = _INFO64.pack(0, 0, 0, 0, 0, 0, 0, 0, flags, os.fsencode(path)[:63], b"", b"", 0, 0)
                try:
                    fcntl.ioctl(device, _LOOP_CONFIGURE, _CONFIG.pack(backing, 0, info))
                except OSError as e:
                    os.close(device)
                    if e.errno == errno.EBUSY:  # taken by someone else since GET_FREE: the next one
                        continue
                    raise
                return node, device
            raise OSError(errno.EBUSY, "no free loop device")
        finally:
            os.close(control)
    finally:
        os.close(backing)  # the loop device holds the file now
