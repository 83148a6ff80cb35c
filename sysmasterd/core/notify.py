"""The notify socket (sd_notify): READY=1, STATUS=, MAINPID=, WATCHDOG=1, ... from services.

An AF_UNIX datagram socket with SO_PASSCRED, so every message carries the sender's PID; the
manager decides which unit it belongs to and whether NotifyAccess= lets it speak.
"""

from __future__ import annotations

import array
import contextlib
import os
import socket
import struct
from collections.abc import Callable

MAX_MESSAGE = 4096
MAX_FDS = 768
BATCH = 64

NotifyHandler = Callable[[int, dict[str, str], list[int]], None]


def parse_message(data: bytes) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in data.decode("utf-8", "replace").split("\n"):
        if "=" in line:
            k, v = line.split("=", 1)
            fields[k] = v
    return fields


class NotifySocket:
    def __init__(self, path: str) -> None:
        self.path = path
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.sock.bind(path)
        os.chmod(path, 0o777)

    @classmethod
    def from_fd(cls, fd: int, path: str) -> NotifySocket:
        """Adopt a socket kept for us across a restart (by init, or across re-exec)."""
        self = cls.__new__(cls)
        self.path = path
        self.sock = socket.socket(fileno=fd)
        self.sock.setblocking(False)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        return self

    def fileno(self) -> int:
        return self.sock.fileno()

    def receive(self, handler: NotifyHandler, commit: Callable[[], None] | None = None) -> None:
        """Take pending messages, calling handler(pid, fields, fds) for each; at most BATCH per call,
        so a flood of datagrams (each with hundreds of fds to close) cannot hold the loop: the
        socket stays readable and the loop comes back after serving others.

        Each message is looked at (MSG_PEEK), applied and committed before it leaves the socket: a
        core killed in between leaves it for the next core (init keeps the socket), instead of
        losing a READY=1 it had read. A peek hands over copies of the message's fds (FDSTORE=1);
        a core that dies after storing them sees them again, and the fd store keeps one entry per
        open file. The final read has no room for fds, so the kernel drops the queued ones."""
        cmsg_space = socket.CMSG_SPACE(struct.calcsize("3i")) + socket.CMSG_SPACE(MAX_FDS * 4)
        for _ in range(BATCH):
            try:
                # fds passed to us must not leak into services spawned later
                data, ancdata, _flags, _addr = self.sock.recvmsg(
                    MAX_MESSAGE, cmsg_space, socket.MSG_PEEK | socket.MSG_CMSG_CLOEXEC)
            except OSError:  # BlockingIOError included: nothing left
                return
            pid, fds = _sender(ancdata)
            try:
                if pid > 0:
                    handler(pid, parse_message(data), fds)
                    if commit is not None:
                        commit()
                else:
                    for fd in fds:
                        os.close(fd)
            finally:
                # gone from the socket whatever the handler did, or it would be read forever
                with contextlib.suppress(OSError):
                    self.sock.recv(1)

    def close(self) -> None:
        self.sock.close()


def _sender(ancdata: list[tuple[int, int, bytes]]) -> tuple[int, list[int]]:
    """The sending PID (SCM_CREDENTIALS; 0 if missing) and the fds that came along."""
    pid = 0
    fds: list[int] = []
    for level, ctype, cdata in ancdata:
        if level == socket.SOL_SOCKET and ctype == socket.SCM_CREDENTIALS:
            pid = struct.unpack("3i", cdata[:12])[0]
        elif level == socket.SOL_SOCKET and ctype == socket.SCM_RIGHTS:
            arr = array.array("i")
            arr.frombytes(cdata[: len(cdata) - len(cdata) % arr.itemsize])
            fds.extend(arr)
    return pid, fds
