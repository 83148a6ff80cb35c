"""The control socket /run/udev/control: server (for the daemon) and client (for devctl).

Peers must be uid 0 (checked on accept and on every message via
SCM_CREDENTIALS). A client sends its messages, then END_MESSAGES, and the
server closing the connection is the acknowledgement.
"""

import asyncio
import contextlib
import logging
import os
import socket
import struct
from collections.abc import Callable

from sysmasterd.devmaster.framework.control_wire import WIRE_SIZE, ControlMessage, ControlType, unpack

log = logging.getLogger("devmaster")
CONTROL_PATH = "/run/udev/control"
_UCRED = struct.Struct("iII")


def _peer_uid(sock: socket.socket) -> int:
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    return _UCRED.unpack(raw)[1]


class ControlServer:
    """Calls `handler` for each valid message; `before` runs first (drain the kernel socket)."""

    def __init__(self, path: str, handler: Callable[[ControlMessage], None],
                 before: Callable[[], None] = lambda: None) -> None:
        self.path = path
        self._handler = handler
        self._before = before
        self._sock: socket.socket | None = None
        self._conns: set[socket.socket] = set()

    def listen(self, loop: asyncio.AbstractEventLoop) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        os.makedirs(os.path.dirname(self.path), mode=0o755, exist_ok=True)
        kind = socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK
        sock = socket.socket(socket.AF_UNIX, kind)
        # Accepted connections inherit SO_PASSCRED from here, so a message the client sends
        # between our accept() and our own setsockopt() carries its credentials too. Without
        # it the kernel attaches none and they read as uid 65534: udevadm's PING and END were
        # then ignored and it waited for a reply that never came.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        sock.bind(self.path)
        sock.listen(16)
        self._sock = sock
        loop.add_reader(sock.fileno(), self._accept, loop)

    def fds(self) -> list[int]:
        return ([self._sock.fileno()] if self._sock else []) + [c.fileno() for c in self._conns]

    def close(self, loop: asyncio.AbstractEventLoop) -> None:
        for conn in list(self._conns):
            self._drop(loop, conn)
        if self._sock is not None:
            loop.remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)

    def _accept(self, loop: asyncio.AbstractEventLoop) -> None:
        assert self._sock is not None
        try:
            conn, _ = self._sock.accept()
        except (BlockingIOError, InterruptedError):
            return
        uid = _peer_uid(conn)
        if uid != 0:
            log.error("Invalid sender uid %d, closing connection", uid)
            conn.close()
            return
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        conn.setblocking(False)
        self._conns.add(conn)
        loop.add_reader(conn.fileno(), self._read, loop, conn)

    def _drop(self, loop: asyncio.AbstractEventLoop, conn: socket.socket) -> None:
        loop.remove_reader(conn.fileno())
        self._conns.discard(conn)
        conn.close()

    def _read(self, loop: asyncio.AbstractEventLoop, conn: socket.socket) -> None:
        try:
            data, anc, _, _ = conn.recvmsg(WIRE_SIZE + 64, socket.CMSG_SPACE(_UCRED.size))
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            log.error("Failed to receive ctrl message: %s", e)
            self._drop(loop, conn)
            return
        if not data:
            self._drop(loop, conn)
            return
        uid = None
        for level, kind, payload in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                uid = _UCRED.unpack_from(payload)[1]
        if uid is None:
            log.error("No sender credentials received, ignoring message")
            return
        if uid != 0:
            log.error("Invalid sender uid %d, ignoring message", uid)
            return
        try:
            msg = unpack(data)
        except ValueError as e:
            log.error("%s, ignoring message", e)
            return
        if msg.type == ControlType.END_MESSAGES:
            self._drop(loop, conn)
            return
        self._before()
        try:
            self._handler(msg)
        except Exception:
            log.exception("control message %d failed", msg.type)
