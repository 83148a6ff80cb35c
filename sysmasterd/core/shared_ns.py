"""PrivateNetwork= and PrivateIPC= namespaces shared by all processes of a unit (ExecStartPre=,
ExecStart=, ExecReload=, ...) and with its JoinsNamespaceOf= units, as systemd 252 shares them
(exec_runtime's netns/ipcns storage sockets, setup_shareable_ns()).

The manager holds a datagram socket pair per unit and namespace type. A child takes the pair's
lock, then either receives an fd of the namespace (someone made it already) and setns()es into
it, or makes the namespace and keeps an fd of /proc/self/ns/<type>; either way it sends the fd
back into the pair for the next one and drops the lock. The namespace lives as long as a process
is in it or the fd sits in the pair, so it outlives the unit's processes until the unit is
released. The pairs are kept by whoever keeps fds for the next core (sysmaster-init, or the
hand-over across our own exec) under `ns:<unit>:<kind>`, so the processes a running unit starts
after a core restart still join its namespaces. NetworkNamespacePath=/IPCNamespacePath= put the
named namespace into the pair first (store_path), unless it holds one already.
"""

from __future__ import annotations

import array
import ctypes
import errno
import fcntl
import os
import socket
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sysmasterd.core.runtime import FdHolder

Pair = tuple[int, int]
HOLDER_PREFIX = "ns:"
KINDS = {"net": 0x40000000, "ipc": 0x08000000}  # CLONE_NEWNET, CLONE_NEWIPC
_NS_GET_NSTYPE = 0xB703  # _IO(0xb7, 0x3)


def _holder_name(unit: str, kind: str) -> str:
    return f"{HOLDER_PREFIX}{unit}:{kind}"


class NamespaceStore:
    """The manager's side: the socket pairs, by unit and kind."""

    def __init__(self, holder: Callable[[], FdHolder | None]) -> None:
        self._pairs: dict[str, dict[str, Pair]] = {}
        self._holder = holder

    def pair(self, unit: str, kind: str, joins: list[str]) -> Pair:
        """The unit's pair for `kind`: its own, a JoinsNamespaceOf= unit's, or a new one."""
        own = self._pairs.setdefault(unit, {})
        if kind not in own:
            shared = next((self._pairs[o][kind] for o in joins if kind in self._pairs.get(o, {})), None)
            if shared is None:
                a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)  # close-on-exec by default
                shared = (a.detach(), b.detach())
            own[kind] = shared
            holder = self._holder()
            if holder is not None:
                holder.store_fds(_holder_name(unit, kind), list(shared))
        return own[kind]

    def release(self, unit: str) -> None:
        """The unit stopped: its pairs go, unless a joined unit still holds them."""
        holder = self._holder()
        for kind, pair in self._pairs.pop(unit, {}).items():
            if holder is not None:
                holder.remove_fds(_holder_name(unit, kind))
            if not any(pair in kinds.values() for kinds in self._pairs.values()):
                for fd in pair:
                    os.close(fd)

    def adopt(self, wanted: Iterable[tuple[str, str]]) -> None:
        """After a core restart: the pairs kept for these (unit, kind)s. A unit and the one it
        joined get copies of the same sockets, so they still share the namespace."""
        holder = self._holder()
        if holder is None:
            return
        for unit, kind in wanted:
            fds = holder.take_fds(_holder_name(unit, kind))
            if len(fds) == 2:
                self._pairs.setdefault(unit, {})[kind] = (fds[0], fds[1])
            else:
                for fd in fds:
                    os.close(fd)


def _through_store(pair: Pair, decide: Callable[[int | None], int]) -> None:
    """Under the pair's lock: take the namespace fd it holds (None: none yet), let `decide` say
    which fd goes back in, and put that back for the next process."""
    receiver = socket.socket(fileno=pair[0])
    sender = socket.socket(fileno=pair[1])
    # A POSIX record lock belongs to the process (a flock() would be shared through the
    # inherited open file description by every child, excluding none).
    fcntl.lockf(pair[0], fcntl.LOCK_EX)
    try:
        ns = decide(_receive_fd(receiver))
        try:
            socket.send_fds(sender, [b"x"], [ns], socket.MSG_DONTWAIT)
        finally:
            os.close(ns)
    finally:
        fcntl.lockf(pair[0], fcntl.LOCK_UN)
        receiver.detach()  # the fds stay the manager's (closed at exec)
        sender.detach()


def enter(pair: Pair, kind: str, create: Callable[[], None]) -> None:
    """In the child: join the unit's namespace of `kind`, or make it with `create()` (which
    unshares and sets it up) and store it for the others."""

    def join_or_make(ns: int | None) -> int:
        if ns is not None:
            setns(ns, KINDS[kind])
            return ns
        create()
        return os.open(f"/proc/self/ns/{kind}", os.O_RDONLY | os.O_CLOEXEC)

    _through_store(pair, join_or_make)


def store_path(pair: Pair, kind: str, path: str) -> None:
    """NetworkNamespacePath=/IPCNamespacePath= (systemd's open_shareable_ns_path()): unless the
    store holds a namespace already (a JoinsNamespaceOf= unit's, or this path's from an earlier
    process), the one at ``path`` goes in, for enter() to join. Raises OSError."""
    _through_store(pair, lambda ns: ns if ns is not None else open_namespace(path, kind))


def join_path(path: str, kind: str) -> None:
    ns = open_namespace(path, kind)
    try:
        setns(ns, KINDS[kind])
    finally:
        os.close(ns)


def open_namespace(path: str, kind: str) -> int:
    """An fd of the namespace file at ``path`` (/run/netns/NAME, /proc/PID/ns/net); EINVAL when
    it is no namespace of ``kind``."""
    fd = os.open(path, os.O_RDONLY | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        found = fcntl.ioctl(fd, _NS_GET_NSTYPE)
    except OSError:
        found = -1  # ENOTTY: not a namespace file at all
    if found != KINDS[kind]:
        os.close(fd)
        raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
    return fd


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
