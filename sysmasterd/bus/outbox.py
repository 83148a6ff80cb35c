"""Signals waiting for one connection, coalesced, sent while the peer keeps up.

A unit loaded and collected a thousand times a second, or a peer that stops reading, must not grow
the daemon's memory or starve other peers: each signal waits here under a key (one entry per unit
and interface for PropertiesChanged, one per unit for UnitNew/UnitRemoved), so what waits is
bounded by the number of objects, not by the number of events. Messages are built when sent, from
the object's values at that moment, and only while the connection's output queue is short.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Hashable

from dbus_fast import Message

from sysmasterd.bus.connection import LOW_WATER, Connection

# Signals sent to one connection per loop turn: a backlog of 100k does not block the loop.
BATCH = 256
# How long a signal waits before it is sent: a unit loaded for one call and
# collected right after costs its peers nothing (UnitNew and UnitRemoved cancel out), and a unit
# changing several times in a row is described once.
WINDOW = 0.01

Build = Callable[[], list[Message]]


class Outbox:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._items: dict[Hashable, tuple[float, Build]] = {}
        self._scheduled = False
        conn.on_drained = self._drained

    def __len__(self) -> int:
        return len(self._items)

    def put(self, key: Hashable, build: Build) -> None:
        """Wait to send `build()`; a signal already waiting under `key` keeps its place."""
        if key not in self._items:
            self._items[key] = (time.monotonic(), build)
            self._schedule()

    def replace(self, key: Hashable, build: Build) -> None:
        """As put, but the newer signal goes last (its order relative to others matters)."""
        self._items.pop(key, None)
        self._items[key] = (time.monotonic(), build)
        self._schedule()

    def discard(self, key: Hashable) -> bool:
        return self._items.pop(key, None) is not None

    def send_now(self, key: Hashable) -> None:
        """Send what waits under `key` ahead of the queue (a job's last property values before
        its JobRemoved)."""
        item = self._items.pop(key, None)
        if item is not None:
            self._send(item[1])

    def _send(self, build: Build) -> None:
        for msg in build():
            self.conn.send(msg)

    def _drained(self) -> None:
        if self._items:
            self._schedule(0)

    def _schedule(self, delay: float = WINDOW) -> None:
        if not self._scheduled and not self.conn.is_closed:
            self._scheduled = True
            asyncio.get_running_loop().call_later(delay, self.pump)

    def pump(self) -> None:
        self._scheduled = False
        items = self._items
        sent = 0
        now = time.monotonic()
        while items and sent < BATCH:
            if self.conn.is_closed:
                items.clear()
                return
            if self.conn.queued >= LOW_WATER:
                return  # on_drained brings us back
            key = next(iter(items))
            queued_at, build = items[key]
            if now - queued_at < WINDOW:
                self._schedule(WINDOW - (now - queued_at))
                return
            del items[key]
            self._send(build)
            sent += 1
        if items:
            self._schedule(0)
