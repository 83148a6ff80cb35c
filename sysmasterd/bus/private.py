"""The private peer-to-peer socket (/run/systemd/private, $XDG_RUNTIME_DIR/systemd/private).

systemctl run by root (or by the user, for a user manager) talks here first, with no bus daemon
and no Hello; it is served from core start, so it works before any bus exists.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Callable
from pathlib import Path

from sysmasterd.bus.connection import AuthFailed, Connection, accept_peer
from sysmasterd.tasks import one_shot

log = logging.getLogger(__name__)

MAX_PEERS = 4096
# After a failed accept() (EMFILE, ENFILE, ENOMEM...): not accepting for this long, doubling up
# to PAUSE_MAX while it keeps failing; one warning per WARN_INTERVAL.
PAUSE_FIRST = 0.05
PAUSE_MAX = 0.5
WARN_INTERVAL = 10.0


class PrivateServer:
    def __init__(self, path: Path, on_connection: Callable[[Connection], None]) -> None:
        self.path = path
        self._on_connection = on_connection
        self._sock: socket.socket | None = None
        self._peers: set[Connection] = set()
        self._pending: set[asyncio.Task[None]] = set()
        # systemd lets root in, and the manager's own user (the user manager's owner).
        self._allowed = frozenset({0, os.geteuid()})
        self._counter = 0
        self._delay = PAUSE_FIRST
        self._last_warning = -WARN_INTERVAL

    @property
    def peers(self) -> set[Connection]:
        return self._peers

    def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK)
        old = os.umask(0o077)
        try:
            sock.bind(str(self.path))
        finally:
            os.umask(old)
        sock.listen(128)
        self._sock = sock
        asyncio.get_running_loop().add_reader(sock.fileno(), self._accept)

    def stop(self) -> None:
        if self._sock is not None:
            asyncio.get_running_loop().remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None
        for task in list(self._pending):
            task.cancel()
        for peer in list(self._peers):
            peer.close()

    def _accept(self) -> None:
        assert self._sock is not None
        while True:
            try:
                client, _ = self._sock.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return
            except OSError as exc:
                # Out of descriptors or memory: the listening socket stays readable, so retrying
                # at once would spin. Stop watching it for a while; waiting clients stay queued.
                self._pause(exc)
                return
            self._delay = PAUSE_FIRST
            if len(self._peers) + len(self._pending) >= MAX_PEERS:
                client.close()
                continue
            self._counter += 1
            label = f"private#{self._counter}"
            task = one_shot(self._handshake(client, label), f"{label}: handshake", log)
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    def _pause(self, exc: OSError) -> None:
        assert self._sock is not None
        loop = asyncio.get_running_loop()
        loop.remove_reader(self._sock.fileno())
        now = loop.time()
        if now - self._last_warning >= WARN_INTERVAL:
            self._last_warning = now
            log.warning("private socket: cannot accept connections (%s); pausing, %d peers connected",
                        exc.strerror or exc, len(self._peers))
        loop.call_later(self._delay, self._resume)
        self._delay = min(self._delay * 2, PAUSE_MAX)

    def _resume(self) -> None:
        if self._sock is not None:
            asyncio.get_running_loop().add_reader(self._sock.fileno(), self._accept)

    async def _handshake(self, client: socket.socket, label: str) -> None:
        try:
            conn = await accept_peer(client, self._allowed, label)
        except (AuthFailed, OSError, TimeoutError) as exc:
            log.debug("%s: refused: %s", label, exc)
            client.close()
            return
        except BaseException:
            client.close()
            raise
        self._peers.add(conn)
        conn.closed.add_done_callback(lambda _: self._peers.discard(conn))
        try:
            self._on_connection(conn)
            conn.start()
        except BaseException:
            conn.close()
            raise
