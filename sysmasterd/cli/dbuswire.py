"""A blocking D-Bus client for the command-line tools: SASL EXTERNAL, method calls, signals.

Why not dbus-fast, which the daemon uses: importing any part of it runs `dbus_fast/__init__`, which
pulls in asyncio and the service machinery (≈5x the interpreter's own start-up), while sctl makes
a handful of synchronous calls. This module needs only struct and _socket (socket.py's enums cost
more to import than sctl's calls take). It marshals and unmarshals every D-Bus type, so any
property's variant decodes; it does not pass unix fds.
"""

from __future__ import annotations

import _socket
import os
import struct

TYPE_CHECKING = False  # mypy knows this name; typing itself costs more to import than sctl may spend
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

METHOD_CALL, METHOD_RETURN, ERROR, SIGNAL = 1, 2, 3, 4
FLAG_NO_REPLY_EXPECTED = 1
# Header field codes and the type each one carries.
_PATH, _INTERFACE, _MEMBER, _ERROR_NAME, _REPLY_SERIAL, _DESTINATION, _SENDER, _SIGNATURE = range(1, 9)
_FIELD_TYPES = {_PATH: "o", _INTERFACE: "s", _MEMBER: "s", _ERROR_NAME: "s", _REPLY_SERIAL: "u",
                _DESTINATION: "s", _SENDER: "s", _SIGNATURE: "g", 9: "u"}
_FIXED = {"y": "B", "b": "I", "n": "h", "q": "H", "i": "i", "u": "I", "x": "q", "t": "Q", "d": "d", "h": "I"}
_ALIGN = {"y": 1, "b": 4, "n": 2, "q": 2, "i": 4, "u": 4, "x": 8, "t": 8, "d": 8, "h": 4, "s": 4, "o": 4,
          "g": 1, "a": 4, "(": 8, "{": 8, "v": 1}
# The reference implementation's default: how long a method call may go unanswered.
CALL_TIMEOUT = 25.0


class Variant:
    """A `v` value: its signature and the decoded value (dbus-fast's Variant has the same shape)."""

    __slots__ = ("signature", "value")

    def __init__(self, signature: str, value: Any) -> None:
        self.signature = signature
        self.value = value

    def __repr__(self) -> str:
        return f"Variant({self.signature!r}, {self.value!r})"


def _type_end(sig: str, i: int) -> int:
    """Index just past the single complete type that starts at sig[i]."""
    c = sig[i]
    if c == "a":
        return _type_end(sig, i + 1)
    if c in "({":
        close = ")" if c == "(" else "}"
        j = i + 1
        while sig[j] != close:
            j = _type_end(sig, j)
        return j + 1
    return i + 1


def split_signature(sig: str) -> list[str]:
    out, i = [], 0
    while i < len(sig):
        j = _type_end(sig, i)
        out.append(sig[i:j])
        i = j
    return out


class _Writer:
    def __init__(self, endian: str = "<") -> None:
        self.buf = bytearray()
        self.endian = endian

    def align(self, n: int) -> None:
        self.buf += bytes(-len(self.buf) % n)

    def write(self, sig: str, value: Any) -> None:
        c = sig[0]
        self.align(_ALIGN[c])
        if c in _FIXED:
            self.buf += struct.pack(self.endian + _FIXED[c], value)
        elif c in "so":
            raw = value.encode()
            self.buf += struct.pack(self.endian + "I", len(raw)) + raw + b"\0"
        elif c == "g":
            raw = value.encode()
            self.buf += bytes((len(raw),)) + raw + b"\0"
        elif c == "v":
            self.write("g", value.signature)
            self.write(value.signature, value.value)
        elif c == "(" or c == "{":
            for sub, item in zip(split_signature(sig[1:-1]), value, strict=True):
                self.write(sub, item)
        else:  # array: the length excludes the padding before the first element
            elem = sig[1:]
            at = len(self.buf)
            self.buf += bytes(4)
            self.align(_ALIGN[elem[0]])
            start = len(self.buf)
            if elem == "y":
                self.buf += bytes(value)
            else:
                for item in value.items() if elem[0] == "{" else value:
                    self.write(elem, item)
            struct.pack_into(self.endian + "I", self.buf, at, len(self.buf) - start)


class _Reader:
    def __init__(self, data: bytes, endian: str, offset: int = 0) -> None:
        self.data = data
        self.endian = endian
        self.pos = offset

    def align(self, n: int) -> None:
        self.pos += -self.pos % n

    def _uint(self) -> int:
        (n,) = struct.unpack_from(self.endian + "I", self.data, self.pos)
        self.pos += 4
        return int(n)

    def read(self, sig: str) -> Any:
        c = sig[0]
        self.align(_ALIGN[c])
        if c in _FIXED:
            fmt = self.endian + _FIXED[c]
            (value,) = struct.unpack_from(fmt, self.data, self.pos)
            self.pos += struct.calcsize(fmt)
            return bool(value) if c == "b" else value
        if c in "so":
            n = self._uint()
            text = self.data[self.pos:self.pos + n].decode()
            self.pos += n + 1
            return text
        if c == "g":
            n = self.data[self.pos]
            text = self.data[self.pos + 1:self.pos + 1 + n].decode()
            self.pos += n + 2
            return text
        if c == "v":
            inner = self.read("g")
            return Variant(inner, self.read(inner))
        if c == "(" or c == "{":
            return [self.read(sub) for sub in split_signature(sig[1:-1])]
        n = self._uint()
        elem = sig[1:]
        self.align(_ALIGN[elem[0]])
        end = self.pos + n
        if elem == "y":
            raw = bytes(self.data[self.pos:end])
            self.pos = end
            return raw
        items = []
        while self.pos < end:
            items.append(self.read(elem))
        return dict(items) if elem[0] == "{" else items


class Message:
    __slots__ = ("body", "destination", "error_name", "flags", "interface", "member", "path", "reply_serial",
                 "sender", "serial", "signature", "type")

    def __init__(self, type: int, *, path: str = "", interface: str = "", member: str = "",
                 destination: str = "", signature: str = "", body: list[Any] | None = None, flags: int = 0) -> None:
        self.type = type
        self.path, self.interface, self.member = path, interface, member
        self.destination, self.signature = destination, signature
        self.body: list[Any] = body or []
        self.flags = flags
        self.serial = self.reply_serial = 0
        self.error_name = self.sender = ""

    def encode(self, serial: int) -> bytes:
        body = _Writer()
        for sub, value in zip(split_signature(self.signature), self.body, strict=True):
            body.write(sub, value)
        fields = [(code, Variant(_FIELD_TYPES[code], value))
                  for code, value in ((_PATH, self.path), (_INTERFACE, self.interface), (_MEMBER, self.member),
                                      (_DESTINATION, self.destination), (_SIGNATURE, self.signature)) if value]
        head = _Writer()
        head.buf += struct.pack("<cBBBII", b"l", self.type, self.flags, 1, len(body.buf), serial)
        head.write("a(yv)", fields)
        head.align(8)
        return bytes(head.buf + body.buf)

    @classmethod
    def decode(cls, data: bytes) -> Message:
        endian = "<" if data[:1] == b"l" else ">"
        kind, flags = data[1], data[2]
        _body_len, serial = struct.unpack_from(endian + "II", data, 4)
        head = _Reader(data, endian, 12)
        msg = cls(kind, flags=flags)
        msg.serial = serial
        for code, variant in head.read("a(yv)"):
            name = {_PATH: "path", _INTERFACE: "interface", _MEMBER: "member", _ERROR_NAME: "error_name",
                    _REPLY_SERIAL: "reply_serial", _DESTINATION: "destination", _SENDER: "sender",
                    _SIGNATURE: "signature"}.get(code)
            if name:
                setattr(msg, name, variant.value)
        head.align(8)
        # The body starts 8-aligned, so aligning relative to it equals aligning relative to the message.
        body = _Reader(data[head.pos:], endian)
        msg.body = [body.read(sub) for sub in split_signature(msg.signature)]
        return msg


class CallFailed(Exception):
    """An ERROR reply: the error's name and its human-readable message."""

    def __init__(self, name: str, text: str) -> None:
        super().__init__(text)
        self.name = name
        self.text = text


def _unescape(value: str) -> bytes:
    """D-Bus address values are percent-escaped (urllib.parse would cost more to import than this)."""
    raw, parts = bytearray(), value.split("%")
    raw += parts[0].encode()
    for part in parts[1:]:
        raw += bytes.fromhex(part[:2]) + part[2:].encode()
    return bytes(raw)


def socket_address(address: str) -> str | bytes:
    """The first unix entry of a D-Bus address string (`unix:path=…` or `unix:abstract=…`)."""
    for entry in address.split(";"):
        transport, _, rest = entry.partition(":")
        if transport != "unix":
            continue
        options = dict(kv.partition("=")[::2] for kv in rest.split(",") if kv)
        if "path" in options:
            return _unescape(options["path"]).decode()
        if "abstract" in options:
            return b"\0" + _unescape(options["abstract"])
    raise ValueError(f"no unix socket in bus address {address!r}")


class Connection:
    """One authenticated connection. `on_signal` sees every signal that arrives while we wait."""

    def __init__(self, address: str, *, bus: bool, timeout: float = CALL_TIMEOUT) -> None:
        self.sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
        self.timeout = timeout
        self.on_signal: Callable[[Message], None] | None = None
        self._serial = 0
        self._buf = bytearray()
        try:
            self.sock.settimeout(timeout)
            self.sock.connect(socket_address(address))
            self._authenticate()
            if bus:
                self.call(Message(METHOD_CALL, path="/org/freedesktop/DBus", interface="org.freedesktop.DBus",
                                  member="Hello", destination="org.freedesktop.DBus"))
        except BaseException:
            self.sock.close()
            raise

    def _authenticate(self) -> None:
        self.sock.sendall(b"\0AUTH EXTERNAL " + str(os.geteuid()).encode().hex().encode() + b"\r\n")
        while b"\r\n" not in self._buf:
            self._fill()
        line, _, rest = bytes(self._buf).partition(b"\r\n")
        if not line.startswith(b"OK "):
            raise ConnectionError("the bus rejected EXTERNAL authentication")
        self._buf = bytearray(rest)
        self.sock.sendall(b"BEGIN\r\n")

    def close(self) -> None:
        self.sock.close()

    def _fill(self) -> None:
        try:
            chunk = self.sock.recv(65536)
        except TimeoutError:
            raise CallFailed("org.freedesktop.DBus.Error.NoReply", "Connection timed out") from None
        if not chunk:
            raise ConnectionError("connection closed by peer")
        self._buf += chunk

    def _next_message(self) -> Message:
        while True:
            if len(self._buf) >= 16:
                endian = "<" if self._buf[:1] == b"l" else ">"
                body_len, _serial, fields_len = struct.unpack_from(endian + "III", self._buf, 4)
                total = 16 + fields_len + (-(16 + fields_len) % 8) + body_len
                if len(self._buf) >= total:
                    data = bytes(self._buf[:total])
                    del self._buf[:total]
                    return Message.decode(data)
            self._fill()

    def send(self, msg: Message) -> int:
        self._serial += 1
        self.sock.sendall(msg.encode(self._serial))
        return self._serial

    def call(self, msg: Message) -> Message:
        """Send and wait for the reply (an ERROR reply raises CallFailed); signals meanwhile go to on_signal."""
        serial = self.send(msg)
        while True:
            reply = self.receive()
            if reply.type in (METHOD_RETURN, ERROR) and reply.reply_serial == serial:
                if reply.type == ERROR:
                    text = reply.body[0] if reply.body and isinstance(reply.body[0], str) else reply.error_name
                    raise CallFailed(reply.error_name, text)
                return reply

    def receive(self) -> Message:
        """The next message; signals are also handed to on_signal."""
        msg = self._next_message()
        if msg.type == SIGNAL and self.on_signal is not None:
            self.on_signal(msg)
        return msg
