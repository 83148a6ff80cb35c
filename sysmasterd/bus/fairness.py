"""Bounded work per call and per caller, so that one client cannot take the manager from others.

Calls whose cost grows with their arguments (ListUnitsByNames loads every unit it names) take a
bounded number of items, run one at a time per calling uid (root's and the manager owner's are not
queued behind anyone), with few of them waiting, and give the event loop back every few
milliseconds, so other clients' calls are answered in between.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from sysmasterd.bus import errors

# Items (unit names, property assignments) one call may carry. systemd has no such count, but it
# spends microseconds where we spend a fraction of a millisecond per item; systemctl sends a few.
MAX_ITEMS = 16384
# Heavy calls of one non-root uid waiting for their turn; beyond it, LimitsExceeded.
MAX_WAITING = 8
# The longest stretch a heavy call keeps the event loop.
SLICE = 0.005

LIMITS_EXCEEDED = "org.freedesktop.DBus.Error.LimitsExceeded"


def check_items(count: int, what: str) -> None:
    if count > MAX_ITEMS:
        raise errors.bus_error(LIMITS_EXCEEDED, f"Too many {what} ({count}, at most {MAX_ITEMS}).")


class Ticker:
    """Hands the loop back once the current slice is used up."""

    def __init__(self) -> None:
        self._since = time.monotonic()

    async def tick(self) -> None:
        if time.monotonic() - self._since >= SLICE:
            await asyncio.sleep(0)
            self._since = time.monotonic()


class Fairness:
    def __init__(self) -> None:
        self._turns: dict[int, asyncio.Lock] = {}
        self._waiting: dict[int, int] = {}
        self._privileged = frozenset({0, os.geteuid()})

    @contextlib.asynccontextmanager
    async def heavy(self, caller_uid: Callable[[], Awaitable[int]]) -> AsyncIterator[Ticker]:
        uid = await caller_uid()
        if uid in self._privileged:
            yield Ticker()
            return
        waiting = self._waiting.get(uid, 0)
        if waiting >= MAX_WAITING:
            raise errors.bus_error(LIMITS_EXCEEDED, "Too many requests of this user in progress.")
        turn = self._turns.setdefault(uid, asyncio.Lock())
        self._waiting[uid] = waiting + 1
        try:
            async with turn:
                yield Ticker()
        finally:
            self._waiting[uid] -= 1
            if not self._waiting[uid]:
                del self._waiting[uid]
                self._turns.pop(uid, None)
