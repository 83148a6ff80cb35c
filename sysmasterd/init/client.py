"""Core's end of the init protocol (see protocol.py): a small non-blocking client.

Usage from the asyncio core::

    init = InitClient.from_environ()          # disabled (all no-ops) when not under sysmaster-init
    for event in init.handshake(timeout=5):   # hello + handed-back fds + exits, before the loop
        ...
    if init.enabled:
        loop.add_reader(init.fileno(), on_init_readable)   # -> init.read_messages()
        # call init.send_heartbeat() at least every init.heartbeat_interval seconds (init kills
        # a core silent for interval x misses, default 5 s x 3), and init.flush()
        # whenever init.wants_write (rare: init's queue full)

Events returned: Hello, StoredFds, ChildExit (call ack(seq) once committed), ActionRequest,
InitError, and Disconnected when init closed the channel.
"""

from __future__ import annotations

import os
import select
import socket
import time
from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass

from sysmasterd.init import protocol
from sysmasterd.init.protocol import (
    ActionRequest,
    ChildExit,
    Hello,
    InitError,
    StoredFds,
)


@dataclass(frozen=True)
class Disconnected:
    """Init closed its end; nothing more will arrive."""


Event = Hello | StoredFds | ChildExit | ActionRequest | InitError | Disconnected
_EVENT_TYPES = (Hello, StoredFds, ChildExit, ActionRequest, InitError)


class InitClient:
    def __init__(self, sock: socket.socket | None, heartbeat_interval: float | None = None) -> None:
        self._sock = sock
        self.heartbeat_interval = heartbeat_interval
        self._outbox: list[protocol.Message] = []
        if sock is not None:
            sock.setblocking(False)
            sock.set_inheritable(False)  # services forked by core must not inherit it

    @classmethod
    def from_environ(cls, environ: MutableMapping[str, str] | None = None, *, unset: bool = True
                     ) -> InitClient:
        """Client on the fd named by SYSMASTER_INIT_SOCKET; a disabled one when it is absent.

        With ``unset`` the variables are removed so that services do not see them.
        """
        env = os.environ if environ is None else environ
        value = env.pop(protocol.ENV_SOCKET, None) if unset else env.get(protocol.ENV_SOCKET)
        beat = env.pop(protocol.ENV_HEARTBEAT, None) if unset else env.get(protocol.ENV_HEARTBEAT)
        if value is None:
            return cls(None)
        try:
            fd = int(value)
            sock = socket.socket(fileno=fd)
        except (ValueError, OSError):
            return cls(None)
        if sock.type != socket.SOCK_SEQPACKET or sock.family != socket.AF_UNIX:
            sock.detach()
            return cls(None)
        try:
            interval = float(beat) if beat else None
        except ValueError:
            interval = None
        return cls(sock, interval)

    @property
    def enabled(self) -> bool:
        return self._sock is not None

    def fileno(self) -> int:
        return self._sock.fileno() if self._sock is not None else -1

    def exec_environ(self) -> Mapping[str, str]:
        """Environment to add when core execs itself (daemon-reexec); keeps the fd across exec."""
        if self._sock is None:
            return {}
        self._sock.set_inheritable(True)
        env = {protocol.ENV_SOCKET: str(self._sock.fileno())}
        if self.heartbeat_interval:
            env[protocol.ENV_HEARTBEAT] = str(self.heartbeat_interval)
        return env

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    # -- sending ---------------------------------------------------------------------------

    @property
    def wants_write(self) -> bool:
        return bool(self._outbox)

    def _send(self, msg: protocol.Message) -> None:
        if self._sock is None:
            return
        self._outbox.append(msg)
        self.flush()

    def flush(self) -> bool:
        """Send what is queued; True when nothing is left."""
        while self._sock is not None and self._outbox:
            try:
                protocol.send(self._sock, self._outbox[0])
            except BlockingIOError:
                return False
            except OSError:
                self._outbox.clear()  # init is gone: Disconnected will be reported by the reader
                return True
            self._outbox.pop(0)
        return True

    def drain(self, timeout: float) -> bool:
        """Block until everything queued is sent (or ``timeout`` passed); True when it was."""
        deadline = time.monotonic() + timeout
        while not self.flush():
            left = deadline - time.monotonic()
            if left <= 0 or self._sock is None:
                return False
            select.select([], [self._sock], [], left)
        return True

    def send_heartbeat(self) -> None:
        if self._sock is None:
            return
        # A queued message proves liveness as well; heartbeats are never queued behind one.
        if self._outbox:
            self.flush()
            return
        try:
            protocol.send(self._sock, protocol.Heartbeat())
        except OSError:
            pass

    def send_ready(self) -> None:
        self._send(protocol.Ready())

    def store_fds(self, name: str, fds: Iterable[int]) -> None:
        """Init keeps duplicates of ``fds`` (the caller's copies stay open) under ``name``."""
        fd_list = list(fds)
        if len(fd_list) > protocol.MAX_FDS:
            raise ValueError(f"at most {protocol.MAX_FDS} fds per name")
        self._send(protocol.StoreFds(name, fd_list))

    def remove_fds(self, name: str) -> None:
        self._send(protocol.RemoveFds(name))

    def ack(self, seq: int) -> None:
        """Exit reports up to and including ``seq`` are committed."""
        self._send(protocol.Ack(seq))

    def request_shutdown(self, kind: str) -> None:
        if kind not in protocol.SHUTDOWN_KINDS:
            raise ValueError(f"shutdown kind must be one of {', '.join(protocol.SHUTDOWN_KINDS)}")
        self._send(protocol.ShutdownRequest(kind))

    def request_switch_root(self, root: str, init: str) -> None:
        self._send(protocol.SwitchRootRequest(root, init))

    # -- receiving -------------------------------------------------------------------------

    def read_messages(self) -> list[Event]:
        """Everything queued now, without blocking. Bad packets are skipped (their fds closed)."""
        events: list[Event] = []
        while self._sock is not None:
            try:
                got = protocol.receive(self._sock)
            except BlockingIOError:
                break
            except OSError:
                got = None
            if got is None:
                self.close()
                events.append(Disconnected())
                break
            packet, fds = got
            try:
                msg = protocol.decode(packet, fds)
            except protocol.ProtocolError:
                protocol.close_fds(fds)
                continue
            if isinstance(msg, _EVENT_TYPES):
                events.append(msg)
            else:
                protocol.close_fds(fds)
        return events

    def handshake(self, timeout: float = 5.0) -> list[Event]:
        """Ask init for hello, the stored fds and pending exits; block (up to ``timeout``) until
        hello and every fd set it announces have arrived. Call it again after core's re-exec."""
        self._send(protocol.Connect(protocol.VERSION))
        events: list[Event] = []
        waiting: set[str] | None = None
        deadline = time.monotonic() + timeout
        while self._sock is not None and (waiting is None or waiting):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            select.select([self._sock], [], [], left)
            for event in self.read_messages():
                events.append(event)
                if isinstance(event, Hello):
                    waiting = set(event.fd_names)
                elif isinstance(event, StoredFds) and waiting is not None:
                    waiting.discard(event.name)
        return events
