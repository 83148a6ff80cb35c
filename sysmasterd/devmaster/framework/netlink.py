"""NETLINK_KOBJECT_UEVENT sockets: kernel uevents (group 1) in, libudev broadcasts (group 2) out.

The stdlib socket is used rather than pyroute2's uevent socket because the
receiver must see the sender's netlink address and SCM_CREDENTIALS to refuse
forged messages the way libudev does.
"""

import socket
import struct
from dataclasses import dataclass

from sysmasterd.devmaster.framework.message import MessageError, UdevHeader, decode

NETLINK_KOBJECT_UEVENT = 15
GROUP_NONE = 0
GROUP_KERNEL = 1
GROUP_UDEV = 2
_SO_RCVBUFFORCE = 33
_UCRED = struct.Struct("iII")


@dataclass(frozen=True)
class Received:
    properties: dict[str, str]
    header: UdevHeader | None


def open_uevent_socket(group: int, rcvbuf: int = 128 * 1024 * 1024) -> socket.socket:
    """A non-blocking uevent socket subscribed to `group` (GROUP_NONE for a sender only)."""
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_KOBJECT_UEVENT)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        if group != GROUP_NONE:
            try:
                sock.setsockopt(socket.SOL_SOCKET, _SO_RCVBUFFORCE, rcvbuf)
            except PermissionError:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.bind((0, group))
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def receive(sock: socket.socket, group: int) -> Received:
    """One message, checked like libudev checks it; MessageError says why it was dropped."""
    data, anc, flags, addr = sock.recvmsg(256 * 1024, socket.CMSG_SPACE(_UCRED.size))
    if flags & socket.MSG_TRUNC:
        raise MessageError("truncated message")
    sender_pid, sender_groups = addr
    if sender_groups == GROUP_NONE:
        raise MessageError(f"unicast netlink message from {sender_pid} ignored")
    if group == GROUP_KERNEL and sender_pid != 0:
        raise MessageError(f"kernel group message from PID {sender_pid} ignored")
    uid = None
    for level, kind, payload in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS and len(payload) >= _UCRED.size:
            uid = _UCRED.unpack_from(payload)[1]
    if uid is None:
        raise MessageError("no sender credentials received")
    if uid != 0:
        raise MessageError(f"sender uid={uid}, message ignored")
    properties, header = decode(data)
    if group == GROUP_KERNEL and header is not None:
        raise MessageError("libudev message on the kernel group ignored")
    return Received(properties, header)


def broadcast(sock: socket.socket, payload: bytes) -> None:
    """Send to group 2; nobody listening is not an error."""
    try:
        sock.sendto(payload, (0, GROUP_UDEV))
    except ConnectionRefusedError:
        pass
