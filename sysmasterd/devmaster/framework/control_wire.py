"""udev's control-socket wire format (struct udev_ctrl_msg_wire, 280 bytes)."""

import enum
import struct
from dataclasses import dataclass

CONTROL_MAGIC = 0xDEAD1DEA
# char version[16]; unsigned magic; int type; union { int intval; char buf[256]; }
_WIRE = struct.Struct("=16sIi256s")
WIRE_SIZE = _WIRE.size
VERSION = b"udev-252"


class ControlType(enum.IntEnum):
    END_MESSAGES = 0
    SET_LOG_LEVEL = 1
    STOP_EXEC_QUEUE = 2
    START_EXEC_QUEUE = 3
    RELOAD = 4
    SET_ENV = 5
    SET_CHILDREN_MAX = 6
    PING = 7
    EXIT = 8


@dataclass(frozen=True)
class ControlMessage:
    type: int
    intval: int = 0
    text: str = ""


def pack(msg: ControlMessage) -> bytes:
    if msg.type == ControlType.SET_ENV:
        value = msg.text.encode()[:255].ljust(256, b"\0")
    else:
        value = struct.pack("=i", msg.intval).ljust(256, b"\0")
    return _WIRE.pack(VERSION.ljust(16, b"\0"), CONTROL_MAGIC, msg.type, value)


def unpack(data: bytes) -> ControlMessage:
    """Raises ValueError for a short message or a wrong magic (udevd ignores those)."""
    if len(data) < WIRE_SIZE:
        raise ValueError(f"short control message ({len(data)} bytes)")
    _, magic, kind, value = _WIRE.unpack_from(data)
    if magic != CONTROL_MAGIC:
        raise ValueError(f"message magic {magic:#010x} doesn't match")
    if kind == ControlType.SET_ENV:
        return ControlMessage(kind, 0, value.split(b"\0", 1)[0].decode(errors="replace"))
    return ControlMessage(kind, struct.unpack_from("=i", value)[0])
