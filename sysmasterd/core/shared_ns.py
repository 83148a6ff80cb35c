"""PrivateNetwork= and PrivateIPC= namespaces shared by all processes of a unit (ExecStartPre=,
ExecStart=, ExecReload=, ...) and with its JoinsNamespaceOf= units, as systemd 252 shares them
(exec_runtime's netns/ipcns storage sockets, setup_shareable_ns()).

The manager holds a datagram socket pair per unit and namespace type. A child takes the pair's
lock, then either receives an fd of the namespace (someone made it already) and setns()es into
it, or makes the namespace and keeps an fd of /proc/self/ns/<type>; either way it sends the fd
back into the pair for the next one and drops the lock. The namespace lives as long as a process
is in it or the fd sits in the pair, so it outlives the unit's processes until the unit is
released. The pairs are not handed to the next core: after a core restart, later processes of a
running unit get a new namespace.
"""

from __future__ import annotations

import array
import ctypes
import fcntl
import os
import socket
from collections.abc import Callable

Pair = tuple[int, int]
KINDS = {"net": 0x40000000, "ipc": 0x08000000}  # CLONE_NEWNET, CLONE_NEWIPC


class NamespaceStore:
    """The manager's side: the socket pairs, by unit and kind."""

    def __init__(self) -> None:
        self._pairs: dict[str, dict[str, Pair]] = {}

    def pair(self, unit: str, kind: str, joins: list[str]) -> Pair:
        """The unit's pair for `kind`: its own, a JoinsNamespaceOf= unit's, or a new one."""
        own = self._pairs.setdefault(unit, {})
        if kind not in own:
            shared = next((self._pairs[o][kind] for o in joins if kind in self._pairs.get(o, {})), None)
            if shared is None:
                a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)  # close-on-exec by default
                shared = (a.detach(), b.detach())
            own[kind] = shared
        return own[kind]

    def release(self, unit: str) -> None:
        """The unit stopped: its pairs go, unless a joined unit still holds them."""
        for pair in self._pairs.pop(unit, {}).values():
            if not any(pair in kinds.values() for kinds in self._pairs.values()):
                for fd in pair:
                    os.close(fd)


def enter(pair: Pair, kind: str, create: Callable[[], None]) -> None:
    """In the child: join the unit's namespace of `kind`, or make it with `create()` (which
    unshares and sets it up) and store it for the others."""
    receiver = socket.socket(fileno=pair[0])
    sender = socket.socket(fileno=pair[1])
    # A POSIX record lock belongs to the process (a flock() would be shared through the
    # inherited open file description by every child, excluding none).
    fcntl.lockf(pair[0], fcntl.LOCK_EX)
    try:
        ns = _receive_fd(receiver)
        if ns is not None:
            setns(ns, KINDS[kind])
        else:
            create()
            ns = os.open(f"/proc/self/ns/{kind}", os.O_RDONLY | os.O_CLOEXEC)
        try:
            socket.send_fds(sender, [b"x"], [ns], socket.MSG_DONTWAIT)
        finally:
            os.close(ns)
    finally:
        fcntl.lockf(pair[0], fcntl.LOCK_UN)
        receiver.detach()  # the fds stay the manager's (closed at exec)
        sender.detach()


def _receive_fd(sock: socket.socket) -> int | None:
    """The stored fd, None when there is none yet. (socket.recv_fds() of 3.11 drops its flags,
    so it would wait.)"""
    try:
        _msg, ancdata, _flags, _addr = sock.recvmsg(1, socket.CMSG_SPACE(array.array("i").itemsize),
                                                    socket.MSG_DONTWAIT | socket.MSG_CMSG_CLOEXEC)
    except BlockingIOError:
        return None
    fds = array.array("i")
    for level, type_, data in ancdata:
        if level == socket.SOL_SOCKET and type_ == socket.SCM_RIGHTS:
            fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
    return fds[0] if fds else None


def setns(fd: int, nstype: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, nstype) < 0:
        e = ctypes.get_errno()
        raise OSError(e, f"setns: {os.strerror(e)}")
