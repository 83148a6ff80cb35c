"""Giving memory back after a spike: a burst of on-demand loads leaves thousands of dead unit
objects and freed arenas behind, which neither the cyclic collector (frozen at start-up, run
rarely) nor glibc's allocator returns by themselves. Once things are quiet, a full collection and
malloc_trim(0) hand it back to the kernel."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sysmasterd.memory import release_memory

if TYPE_CHECKING:
    import asyncio

# Units unloaded before a trim is worth its cost (a full collection takes tens of milliseconds).
THRESHOLD = 256
QUIET_SEC = 1.0


class MemoryTrim:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._freed = 0
        self._handle: asyncio.TimerHandle | None = None

    def freed(self, count: int) -> None:
        """``count`` objects worth trimming for went away; trim when none followed for a while."""
        self._freed += count
        if self._freed < THRESHOLD:
            return
        if self._handle is not None:
            self._handle.cancel()
        self._handle = self._loop.call_later(QUIET_SEC, self.trim)

    def trim(self) -> None:
        self._handle = None
        self._freed = 0
        release_memory()
