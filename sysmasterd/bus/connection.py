"""One D-Bus connection, to the bus daemon or from a peer on the private socket.

dbus-fast marshals and unmarshals; this class owns the socket, so it can do the server side of a
peer-to-peer handshake (dbus-fast is a client library) and keep writing safe: a full socket buffer
(BlockingIOError) waits for POLLOUT instead of killing the connection, and a peer that stops
reading first stops being read from, so the daemon's memory stays bounded: the replies it can
owe are limited by the paused reading, and signals wait, coalesced, in the emitter's per-peer outbox
(sysmasterd.bus.outbox) until the queue is short again. Neither the bus connection nor a private
peer (root, or the user manager's owner) is ever dropped for someone else's load; the hard limit is
a last resort against a bug, logged with who the peer was.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import struct
import time
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
# Output queued beyond this drops a peer (never the bus connection). Reading stops at HIGH_WATER
# and signals wait in an outbox, so only a bug gets here.
HARD_LIMIT = 64 << 20
# dbus-daemon's default max_message_size: a bigger message would end our bus connection, so a
# reply that large is answered with LimitsExceeded instead (as sd-bus refuses to send it).
MAX_MESSAGE = 32 << 20
LIMITS_EXCEEDED = "org.freedesktop.DBus.Error.LimitsExceeded"
# Incoming calls waiting to be handled beyond which the peer is not read from, and the longest
# stretch of the loop one connection's calls take before others get their turn.
INBOX_PAUSE = 64
TURN = 0.002
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
        # Called when the output queue fell below LOW_WATER: the emitter sends waiting signals.
        self.on_drained: Callable[[], None] | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._loop = asyncio.get_running_loop()
        self._fd = sock.fileno()
        self._out: deque[memoryview] = deque()
        # Unix fds going with the message that starts at a queued buffer (by its id()): they are
        # ours until sendmsg() handed them over with that message's first bytes.
        self._out_fds: dict[int, list[int]] = {}
        self._queued = 0
        self._writing = False
        self._reading = False
        self._serial = 0
        self._pending: dict[int, asyncio.Future[Message]] = {}
        self._inbox: deque[Message] = deque()
        self._handling = False

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
        for fds in self._out_fds.values():
            _close_fds(fds)
        self._out_fds.clear()
        self._inbox.clear()
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
        if (not self._reading and not self.is_closed and self._queued < HIGH_WATER
                and len(self._inbox) < INBOX_PAUSE):
            self._loop.add_reader(self._fd, self._reader)
            self._reading = True

    def _on_error(self, exc: Exception | None) -> None:
        if not isinstance(exc, (EOFError, ConnectionError)):
            log.debug("%s: closing after %r", self.label, exc)
        self.close()

    # --- incoming --------------------------------------------------------------------------

    def _on_message(self, msg: Message) -> None:
        kind = msg.message_type
        if kind is MessageType.METHOD_CALL or kind is MessageType.SIGNAL:
            # Handled in turns of bounded length: a peer pipelining thousands of calls gets its
            # share of the loop, not all of it; while its backlog is long it is not read from.
            self._inbox.append(msg)
            if not self._handling:
                self._handling = True
                self._loop.call_soon(self._handle_inbox)
            if len(self._inbox) >= INBOX_PAUSE:
                self._pause_reading()
        else:
            fut = self._pending.pop(msg.reply_serial, None)
            if fut is not None and not fut.done():
                fut.set_result(msg)

    def _handle_inbox(self) -> None:
        self._handling = False
        inbox = self._inbox
        deadline = time.monotonic() + TURN
        while inbox and not self.is_closed:
            msg = inbox.popleft()
            handler = self.on_call if msg.message_type is MessageType.METHOD_CALL else self.on_signal
            if handler is not None:
                try:
                    handler(self, msg)
                except Exception:
                    log.exception("%s: handling %s failed", self.label, msg.member)
            if time.monotonic() >= deadline:
                break
        if inbox and not self.is_closed:
            self._handling = True
            self._loop.call_soon(self._handle_inbox)
        else:
            self._resume_reading()

    # --- outgoing --------------------------------------------------------------------------

    def next_serial(self) -> int:
        self._serial = self._serial + 1 if self._serial < 0xFFFFFFFF else 1
        return self._serial

    @property
    def queued(self) -> int:
        """Bytes of output not yet taken by the peer."""
        return self._queued

    def describe(self) -> str:
        who = f" (uid {self.peer_uid}, pid {self.peer_pid})" if self.peer_uid is not None else ""
        return self.label + who

    def send(self, msg: Message) -> None:
        """Send `msg`; the Unix fds it carries are the connection's to close from now on."""
        if self.is_closed or (msg.unix_fds and not self.unix_fd):
            _close_fds(msg.unix_fds)
            return
        if not msg.serial:
            msg.serial = self.next_serial()
        data: bytes | bytearray = msg._marshall(self.unix_fd)
        fds = list(msg.unix_fds)
        if len(data) > MAX_MESSAGE:
            data = self._too_large(msg, len(data))
            _close_fds(fds)
            fds = []
            if not data:
                return
        if self._queued + len(data) > HARD_LIMIT and not self.is_bus:
            log.error("%s: dropping the peer: %d bytes of output wait for it and it does not read them",
                      self.describe(), self._queued)
            _close_fds(fds)
            self.close()
            return
        view = memoryview(data)
        self._out.append(view)
        if fds:
            self._out_fds[id(view)] = fds
        self._queued += len(data)
        if not self._writing:
            self._flush()
        if self._queued > HIGH_WATER:
            self._pause_reading()

    def _too_large(self, msg: Message, size: int) -> bytes:
        log.warning("%s: not sending a %d-byte %s %s: larger than the %d bytes a bus carries",
                    self.describe(), size, msg.message_type.name.lower(), msg.member or msg.reply_serial,
                    MAX_MESSAGE)
        if msg.message_type is not MessageType.METHOD_RETURN:
            return b""
        error = Message(message_type=MessageType.ERROR, error_name=LIMITS_EXCEEDED, reply_serial=msg.reply_serial,
                        destination=msg.destination, signature="s",
                        body=[f"Reply of {size} bytes exceeds the maximum message size."],
                        serial=msg.serial)
        return bytes(error._marshall(self.unix_fd))

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
                fds = self._out_fds.get(id(buf))
                if fds is None:
                    sent = self.sock.send(buf)
                else:
                    sent = socket.send_fds(self.sock, [buf], fds)
                    _close_fds(self._out_fds.pop(id(buf)))
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
            if self.on_drained is not None:
                self.on_drained()


def _close_fds(fds: list[int]) -> None:
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


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
