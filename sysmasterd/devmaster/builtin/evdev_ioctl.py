"""The evdev ioctls the input builtins need (linux/input.h), on an open event node."""

import fcntl
import struct
from typing import NamedTuple

_ABSINFO = struct.Struct("6i")
_E = ord("E") << 8
EVIOCSKEYCODE = (1 << 30) | (8 << 16) | _E | 0x04
EVIOCGBIT_EV = (2 << 30) | (8 << 16) | _E | 0x20


class AbsInfo(NamedTuple):
    value: int
    minimum: int
    maximum: int
    fuzz: int
    flat: int
    resolution: int


def get_abs(fd: int, code: int) -> AbsInfo:
    """EVIOCGABS(code); raises OSError."""
    request = (2 << 30) | (_ABSINFO.size << 16) | _E | (0x40 + code)
    return AbsInfo(*_ABSINFO.unpack(fcntl.ioctl(fd, request, bytes(_ABSINFO.size))))


def set_abs(fd: int, code: int, info: AbsInfo) -> None:
    """EVIOCSABS(code); raises OSError."""
    request = (1 << 30) | (_ABSINFO.size << 16) | _E | (0xC0 + code)
    fcntl.ioctl(fd, request, _ABSINFO.pack(*info))


def set_keycode(fd: int, scancode: int, keycode: int) -> None:
    """EVIOCSKEYCODE with a 32-bit scan code; raises OSError."""
    fcntl.ioctl(fd, EVIOCSKEYCODE, struct.pack("II", scancode, keycode))


def event_types(fd: int) -> int:
    """EVIOCGBIT(0): the EV_* bitmask; raises OSError."""
    result: int = struct.unpack("Q", fcntl.ioctl(fd, EVIOCGBIT_EV, bytes(8)))[0]
    return result
