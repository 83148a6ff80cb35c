"""The kernel's autofs v5 protocol as systemd's automount.c speaks it: the autofs mount itself
(fd=<pipe>,pgrp=,minproto=5,maxproto=5,direct), the control commands through /dev/autofs
(linux/auto_dev-ioctl.h: struct autofs_dev_ioctl, 24 bytes plus the path) and the request packets
the kernel writes into the pipe (linux/auto_fs.h: struct autofs_v5_packet).

Python has no mount(2)/umount2(2): they come from libc through ctypes."""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import struct
from dataclasses import dataclass

DEV_AUTOFS = "/dev/autofs"
_IOCTL_TYPE = 0x93
_VERSION_MAJOR, _VERSION_MINOR = 1, 1
# struct autofs_dev_ioctl: ver_major, ver_minor, size, ioctlfd, then an 8-byte union of arguments.
_HEADER = struct.Struct("=IIIi8s")
CMD_VERSION, CMD_PROTOVER, CMD_PROTOSUBVER, CMD_OPENMOUNT = 0x71, 0x72, 0x73, 0x74
CMD_READY, CMD_FAIL, CMD_TIMEOUT, CMD_EXPIRE = 0x76, 0x77, 0x7A, 0x7C
# struct autofs_v5_packet (padded to 8 bytes, as the kernel writes it on 64-bit).
_PACKET = struct.Struct("=iiIIQIIIII256s4x")
PACKET_SIZE = _PACKET.size
PTYPE_MISSING_DIRECT, PTYPE_EXPIRE_DIRECT = 5, 6
MNT_DETACH, UMOUNT_NOFOLLOW = 2, 8


@dataclass(frozen=True)
class Packet:
    type: int
    token: int
    pid: int


def _request(cmd: int) -> int:
    """_IOWR(AUTOFS_IOCTL, cmd, struct autofs_dev_ioctl)."""
    return (3 << 30) | (_HEADER.size << 16) | (_IOCTL_TYPE << 8) | cmd


def _ioctl(dev_fd: int, cmd: int, ioctl_fd: int, args: bytes = b"", path: str = "") -> tuple[int, bytes]:
    raw_path = path.encode() + b"\0" if path else b""
    buf = bytearray(_HEADER.pack(_VERSION_MAJOR, _VERSION_MINOR, _HEADER.size + len(raw_path), ioctl_fd,
                                 args.ljust(8, b"\0")) + raw_path)
    fcntl.ioctl(dev_fd, _request(cmd), buf)
    _, _, _, out_fd, out_args = _HEADER.unpack_from(buf)
    return out_fd, out_args


def open_dev() -> int:
    """/dev/autofs, checked to speak the control protocol (open_dev_autofs)."""
    fd = os.open(DEV_AUTOFS, os.O_RDONLY | os.O_CLOEXEC)
    try:
        _ioctl(fd, CMD_VERSION, -1)
    except OSError:
        os.close(fd)
        raise
    return fd


def open_mount(dev_fd: int, where: str, dev_id: int) -> int:
    """An ioctl fd for the autofs mount on `where` (AUTOFS_DEV_IOCTL_OPENMOUNT)."""
    fd, _ = _ioctl(dev_fd, CMD_OPENMOUNT, -1, struct.pack("=I", dev_id & 0xFFFFFFFF), where)
    if fd < 0:
        raise OSError(errno.EIO, os.strerror(errno.EIO))
    os.set_inheritable(fd, False)
    return fd


def check_protocol(dev_fd: int, ioctl_fd: int) -> tuple[int, int]:
    _, major = _ioctl(dev_fd, CMD_PROTOVER, ioctl_fd)
    _, minor = _ioctl(dev_fd, CMD_PROTOSUBVER, ioctl_fd)
    return struct.unpack_from("=I", major)[0], struct.unpack_from("=I", minor)[0]


def set_timeout(dev_fd: int, ioctl_fd: int, seconds: int) -> None:
    _ioctl(dev_fd, CMD_TIMEOUT, ioctl_fd, struct.pack("=Q", seconds))


def send_ready(dev_fd: int, ioctl_fd: int, token: int, status: int) -> None:
    """Wake the waiters of `token`: success (status 0) or a negative errno (READY/FAIL)."""
    if status:
        _ioctl(dev_fd, CMD_FAIL, ioctl_fd, struct.pack("=Ii", token, status))
    else:
        _ioctl(dev_fd, CMD_READY, ioctl_fd, struct.pack("=I", token))


def expire(dev_fd: int, ioctl_fd: int) -> None:
    """Ask the kernel to expire idle mounts until it says there is nothing left (EAGAIN). Blocks
    until the manager has handled the expire request it causes: run it off the event loop."""
    while True:
        try:
            _ioctl(dev_fd, CMD_EXPIRE, ioctl_fd)
        except OSError as e:
            if e.errno != errno.EAGAIN:
                raise
            return


def parse_packet(data: bytes) -> Packet:
    _, ptype, token, _, _, _, _, pid, _, _, _ = _PACKET.unpack(data)
    return Packet(ptype, token, pid)


_libc = ctypes.CDLL(None, use_errno=True)


def mount(source: str, target: str, options: str) -> None:
    if _libc.mount(source.encode(), target.encode(), b"autofs", ctypes.c_ulong(0), options.encode()) < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), target)


def unmount(target: str) -> None:
    """Detach every mount stacked on `target` (repeat_unmount with MNT_DETACH|UMOUNT_NOFOLLOW)."""
    done = False
    while _libc.umount2(target.encode(), MNT_DETACH | UMOUNT_NOFOLLOW) == 0:
        done = True
    err = ctypes.get_errno()
    if not done and err != errno.EINVAL:
        raise OSError(err, os.strerror(err), target)
