"""The init <-> core protocol: messages, their encoding, and socket I/O.

Transport: an AF_UNIX SOCK_SEQPACKET socketpair made by init for each core it starts. Init keeps
one end; core inherits the other, whose fd number is in the environment variable
``SYSMASTER_INIT_SOCKET`` (``SYSMASTER_INIT_HEARTBEAT`` holds the heartbeat interval in seconds).
Seqpacket keeps message boundaries and delivers in order, so framing is one message per packet.

Each packet is one UTF-8 JSON object with a ``"type"`` key; file descriptors travel beside it as
SCM_RIGHTS ancillary data (only ``store`` and ``fds`` carry them).

core -> init:
  ``connect`` version               send me hello, the stored fds and the pending exit reports
                                    (first message of a new core, and again after core's own
                                    re-exec; until then init sends core nothing else but stop).
  ``heartbeat``                     I am alive (any message counts as alive).
  ``ready``                         state restored, serving: resets init's restart counter.
  ``store`` name + fds              keep these fds under ``name`` (replaces an older set).
  ``remove`` name                   forget and close the fds stored under ``name``.
  ``ack`` seq                       exit reports up to ``seq`` are committed; init forgets them.
  ``shutdown`` kind                 units are stopped: kill the rest and poweroff|reboot|halt|kexec.
  ``switch-root`` root init         the state is stored and core is leaving: once it is gone, move
                                    to the new root and exec ``init`` there ("" = init itself,
                                    its state kept, and a new core).

init -> core (on ``connect``: ``hello``, one ``fds`` per stored set, the unacknowledged exits):
  ``hello`` version init_pid starts fd_names   ``starts`` counts core starts (1 = first boot).
  ``fds`` name + fds                a stored set handed back.
  ``exit`` seq pid code status time_usec       a reaped process that was not core; ``code`` is
                                    ``exited``/``killed``/``dumped`` (CLD_*), ``status`` the exit
                                    status or signal number. Delivered at least once: unacked
                                    reports are sent again to the next core; ``seq`` grows
                                    monotonically for the life of the machine, so core can drop
                                    duplicates.
  ``act`` kind                      init got one of the signals systemd's PID 1 acts on (systemd(1)):
                                    ``kind`` is what to do (ACTIONS); for halt, poweroff, reboot and
                                    kexec core stops the units through the target, then ``shutdown``.
  ``error`` message                 a request init could not honour.
"""

from __future__ import annotations

import array
import json
import os
import socket
import typing
from dataclasses import dataclass, field, fields

ENV_SOCKET = "SYSMASTER_INIT_SOCKET"
ENV_HEARTBEAT = "SYSMASTER_INIT_HEARTBEAT"
VERSION = 1
MAX_PACKET = 65536
MAX_FDS = 253  # SCM_MAX_FD
SHUTDOWN_KINDS = ("poweroff", "reboot", "halt", "kexec")
# What systemd's PID 1 does on a signal (systemd(1), "Signals"): start a target, isolate one, or
# re-execute the manager.
ACTIONS = ("halt", "poweroff", "reboot", "kexec", "ctrl-alt-del", "default", "rescue", "emergency", "reexec")


class ProtocolError(ValueError):
    """A packet that is not a valid message."""


@dataclass(frozen=True)
class Connect:
    version: int


@dataclass(frozen=True)
class Heartbeat:
    pass


@dataclass(frozen=True)
class Ready:
    pass


@dataclass(frozen=True)
class StoreFds:
    name: str
    fds: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class RemoveFds:
    name: str


@dataclass(frozen=True)
class Ack:
    seq: int


@dataclass(frozen=True)
class ShutdownRequest:
    kind: str


@dataclass(frozen=True)
class SwitchRootRequest:
    root: str
    init: str


@dataclass(frozen=True)
class Hello:
    version: int
    init_pid: int
    starts: int
    fd_names: list[str]


@dataclass(frozen=True)
class StoredFds:
    name: str
    fds: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class ChildExit:
    seq: int
    pid: int
    code: str
    status: int
    time_usec: int


@dataclass(frozen=True)
class ActionRequest:
    kind: str


@dataclass(frozen=True)
class InitError:
    message: str


Message = (
    Connect | Heartbeat | Ready | StoreFds | RemoveFds | Ack | ShutdownRequest | SwitchRootRequest | Hello
    | StoredFds | ChildExit | ActionRequest | InitError
)

_TYPES: dict[str, type[Message]] = {
    "connect": Connect, "heartbeat": Heartbeat, "ready": Ready, "store": StoreFds, "remove": RemoveFds, "ack": Ack,
    "shutdown": ShutdownRequest, "switch-root": SwitchRootRequest, "hello": Hello, "fds": StoredFds, "exit": ChildExit,
    "act": ActionRequest, "error": InitError,
}
_NAMES = {cls: name for name, cls in _TYPES.items()}
_CARRIES_FDS = (StoreFds, StoredFds)


def encode(msg: Message) -> tuple[bytes, list[int]]:
    """Message -> (packet, fds to send beside it)."""
    body: dict[str, object] = {"type": _NAMES[type(msg)]}
    fds: list[int] = []
    for f in fields(msg):
        value = getattr(msg, f.name)
        if f.name == "fds":
            fds = list(value)
        else:
            body[f.name] = value
    return json.dumps(body, separators=(",", ":")).encode(), fds


def _check(value: object, hint: object) -> bool:
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if hint == list[str]:
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    return False


def decode(packet: bytes, fds: list[int]) -> Message:
    """(packet, received fds) -> Message. Raises ProtocolError; the caller closes ``fds`` then."""
    try:
        body = json.loads(packet)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ProtocolError(f"not JSON: {e}") from None
    if not isinstance(body, dict):
        raise ProtocolError("not a JSON object")
    cls = _TYPES.get(body.get("type"))  # type: ignore[arg-type]
    if cls is None:
        raise ProtocolError(f"unknown message type {body.get('type')!r}")
    if fds and cls not in _CARRIES_FDS:
        raise ProtocolError(f"{body['type']!r} must not carry file descriptors")
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, object] = {}
    for f in fields(cls):
        if f.name == "fds":
            kwargs["fds"] = list(fds)
            continue
        if f.name not in body or not _check(body[f.name], hints[f.name]):
            raise ProtocolError(f"{body['type']!r}: missing or bad field {f.name!r}")
        kwargs[f.name] = body[f.name]
    return cls(**kwargs)  # type: ignore[arg-type]


def send(sock: socket.socket, msg: Message) -> None:
    """Send one message; raises BlockingIOError when the peer's queue is full (nothing sent)."""
    packet, fds = encode(msg)
    if fds:
        sock.sendmsg([packet], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))])
    else:
        sock.send(packet)


def receive(sock: socket.socket) -> tuple[bytes, list[int]] | None:
    """One packet and its fds (close-on-exec), or None at end of stream.

    Raises BlockingIOError when nothing is queued.
    """
    packet, ancdata, _flags, _addr = sock.recvmsg(
        MAX_PACKET, socket.CMSG_SPACE(MAX_FDS * 4), socket.MSG_CMSG_CLOEXEC
    )
    fds: list[int] = []
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            arr = array.array("i")
            arr.frombytes(data[: len(data) - len(data) % arr.itemsize])
            fds.extend(arr)
    if not packet and not fds:
        return None
    return packet, fds


def close_fds(fds: list[int]) -> None:
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass
