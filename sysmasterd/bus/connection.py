"""One D-Bus connection, to the bus daemon or from a peer on the private socket.

dbus-fast marshals and unmarshals; this class owns the socket, so it can do the server side of a
peer-to-peer handshake (dbus-fast is a client library) and keep writing safe: a full socket buffer
(BlockingIOError) waits for POLLOUT instead of killing the connection, and a peer that stops
reading first stops being read from, then gets dropped, so the daemon's memory stays bounded.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import struct
from collections import deque
from collections.abc import Callable

from dbus_fast import Message, MessageFlag, MessageType
from dbus_fast._private.address import parse_address
from dbus_fast.aio.message_reader import build_message_reader

from sysmasterd.bus.sasl import Outcome, ServerAuth

log = logging.getLogger(__name__)

# Stop reading a peer's requests while this much output waits for it, resume below the low mark.
HIGH_WATER = 1 << 20
LOW_WATER = 1 << 18
# Output queued beyond this (signals keep coming even when we stop reading) drops the peer.
HARD_LIMIT = 32 << 20
AUTH_TIMEOUT = 10.0
MAX_AUTH_LINE = 16384

MessageHandler = Callable[["Connection", Message], None]


class AuthFailed(Exception):
    pass


class Connection:
    def __init__(self, sock: socket.socket, *, unix_fd: bool, is_bus: bool, label: str) -> None:
        self.sock = sock
        self.unix_fd = unix_fd
        self.is_bus = is_bus
        self.label = label
        self.unique_name = ""
        self.peer_uid: int | None = None
        self.peer_pid: int | None = None
        self.on_call: MessageHandler | None = None
        self.on_signal: MessageHandler | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._loop = asyncio.get_running_loop()
        self._fd = sock.fileno()
        self._out: deque[memoryview] = deque()
        self._queued = 0
        self._writing = False
        self._reading = False
        self._serial = 0
        self._pending: dict[int, asyncio.Future[Message]] = {}

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        self._reader = build_message_reader(self.sock, self._on_message, self._on_error, self.unix_fd)
        self._resume_reading()

    def close(self) -> None:
        if self.closed.done():
            return
        if self._reading:
            self._loop.remove_reader(self._fd)
        if self._writing:
            self._loop.remove_writer(self._fd)
        self._reading = self._writing = False
        self._out.clear()
        self._queued = 0
        self.sock.close()
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(ConnectionError(f"{self.label}: connection closed"))
        self._pending.clear()
        self.closed.set_result(None)

    @property
    def is_closed(self) -> bool:
        return self.closed.done()

    def _pause_reading(self) -> None:
        if self._reading:
            self._loop.remove_reader(self._fd)
            self._reading = False

    def _resume_reading(self) -> None:
        if not self._reading and not self.is_closed:
            self._loop.add_reader(self._fd, self._reader)
            self._reading = True

    def _on_error(self, exc: Exception | None) -> None:
        if not isinstance(exc, (EOFError, ConnectionError)):
            log.debug("%s: closing after %r", self.label, exc)
        self.close()

    # --- incoming --------------------------------------------------------------------------

    def _on_message(self, msg: Message) -> None:
        kind = msg.message_type
        if kind is MessageType.METHOD_CALL:
            if self.on_call is not None:
                self.on_call(self, msg)
        elif kind is MessageType.SIGNAL:
            if self.on_signal is not None:
                self.on_signal(self, msg)
        else:
            fut = self._pending.pop(msg.reply_serial, None)
            if fut is not None and not fut.done():
                fut.set_result(msg)

    # --- outgoing --------------------------------------------------------------------------

    def next_serial(self) -> int:
        self._serial = self._serial + 1 if self._serial < 0xFFFFFFFF else 1
        return self._serial

    def send(self, msg: Message) -> None:
        if self.is_closed:
            return
        if not msg.serial:
            msg.serial = self.next_serial()
        data = msg._marshall(self.unix_fd)
        if self._queued + len(data) > HARD_LIMIT:
            log.warning("%s: peer does not read its messages, dropping it", self.label)
            self.close()
            return
        self._out.append(memoryview(data))
        self._queued += len(data)
        if not self._writing:
            self._flush()
        if self._queued > HIGH_WATER:
            self._pause_reading()

    async def call(self, msg: Message) -> Message:
        """Send a method call and wait for its reply (errors come back as ERROR messages)."""
        msg.serial = self.next_serial()
        fut: asyncio.Future[Message] = self._loop.create_future()
        if not (msg.flags & MessageFlag.NO_REPLY_EXPECTED):
            self._pending[msg.serial] = fut
        self.send(msg)
        if self.is_closed:
            raise ConnectionError(f"{self.label}: connection closed")
        return await fut

    def _flush(self) -> None:
        out = self._out
        try:
            while out:
                buf = out[0]
                sent = self.sock.send(buf)
                self._queued -= sent
                if sent < len(buf):
                    out[0] = buf[sent:]
                    break
                out.popleft()
        except (BlockingIOError, InterruptedError):
            pass
        except OSError as exc:
            self._on_error(exc)
            return
        if out and not self._writing:
            self._loop.add_writer(self._fd, self._flush)
            self._writing = True
        elif not out and self._writing:
            self._loop.remove_writer(self._fd)
            self._writing = False
        if self._queued < LOW_WATER:
            self._resume_reading()


# --- handshakes ------------------------------------------------------------------------------


async def _wait_readable(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
    fut: asyncio.Future[None] = loop.create_future()
    fd = sock.fileno()

    def ready() -> None:
        if not fut.done():
            fut.set_result(None)

    loop.add_reader(fd, ready)
    try:
        await fut
    finally:
        loop.remove_reader(fd)


async def read_line(sock: socket.socket) -> bytes:
    """One CRLF-terminated line, never consuming a byte past it (the binary stream follows)."""
    loop = asyncio.get_running_loop()
    partial = b""
    while True:
        try:
            peeked = sock.recv(4096, socket.MSG_PEEK)
        except (BlockingIOError, InterruptedError):
            await _wait_readable(loop, sock)
            continue
        if not peeked:
            raise AuthFailed("connection closed during authentication")
        end = (partial + peeked).find(b"\r\n", max(0, len(partial) - 1))
        if end >= 0:
            partial += sock.recv(end + 2 - len(partial))
            return partial[:-2]
        partial += sock.recv(len(peeked))
        if len(partial) > MAX_AUTH_LINE:
            raise AuthFailed("authentication line too long")


async def _send_all(sock: socket.socket, data: bytes) -> None:
    await asyncio.get_running_loop().sock_sendall(sock, data)


def peer_credentials(sock: socket.socket) -> tuple[int, int, int]:
    """(pid, uid, gid) of the process at the other end of a unix socket."""
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, uid, gid = struct.unpack("3i", raw)
    return pid, uid, gid


async def _server_handshake(sock: socket.socket, allowed_uids: frozenset[int]) -> bool:
    _, uid, _ = peer_credentials(sock)
    first = await asyncio.get_running_loop().sock_recv(sock, 1)
    if first != b"\0":
        raise AuthFailed("missing credentials byte")
    auth = ServerAuth(uid, allowed_uids)
    while True:
        answer, outcome = auth.feed(await read_line(sock))
        if outcome is Outcome.BEGIN:
            return auth.unix_fd
        if outcome is Outcome.REJECT:
            raise AuthFailed("too many protocol errors")
        await _send_all(sock, answer)


async def accept_peer(sock: socket.socket, allowed_uids: frozenset[int], label: str) -> Connection:
    """Authenticate a client of the private socket and return its (not yet started) connection."""
    sock.setblocking(False)
    unix_fd = await asyncio.wait_for(_server_handshake(sock, allowed_uids), AUTH_TIMEOUT)
    conn = Connection(sock, unix_fd=unix_fd, is_bus=False, label=label)
    conn.peer_pid, conn.peer_uid, _ = peer_credentials(sock)
    return conn


async def _client_handshake(sock: socket.socket) -> bool:
    """EXTERNAL, then NEGOTIATE_UNIX_FD: StartTransientUnit takes descriptors (systemd-run --pty,
    StandardInputFileDescriptor=), and a bus that did not agree would refuse such calls to us.
    True if the bus agreed."""
    uid_hex = str(os.geteuid()).encode().hex()
    await _send_all(sock, f"\0AUTH EXTERNAL {uid_hex}\r\n".encode())
    if not (await read_line(sock)).startswith(b"OK "):
        raise AuthFailed("bus rejected EXTERNAL authentication")
    await _send_all(sock, b"NEGOTIATE_UNIX_FD\r\n")
    unix_fd = (await read_line(sock)).startswith(b"AGREE_UNIX_FD")
    await _send_all(sock, b"BEGIN\r\n")
    return unix_fd


async def connect_bus(address: str, label: str) -> Connection:
    """Connect and authenticate to a bus daemon at a unix address; Hello is the caller's."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, sock_address(address))
        unix_fd = await asyncio.wait_for(_client_handshake(sock), AUTH_TIMEOUT)
    except BaseException:
        sock.close()
        raise
    return Connection(sock, unix_fd=unix_fd, is_bus=True, label=label)


def sock_address(address: str) -> str | bytes:
    """The socket address of the first usable unix entry of a D-Bus address string."""
    for transport, options in parse_address(address):
        if transport != "unix":
            continue
        if "path" in options:
            return options["path"]
        if "abstract" in options:
            return b"\0" + options["abstract"].encode()
    raise ValueError(f"no unix socket in bus address {address!r}")
