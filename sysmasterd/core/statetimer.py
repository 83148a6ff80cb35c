"""The one timer a unit's state runs at a time (a start/stop timeout, a restart delay, a runtime
limit): armed on entering the state, cancelled on leaving it, its deadline on the monotonic clock
stored so that a later core re-arms the same instant."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from compat.model import USEC_INFINITY

if TYPE_CHECKING:
    import asyncio


class StateTimer:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._handle: asyncio.TimerHandle | None = None
        self._callback: Callable[[], None] | None = None
        # loop.time() is CLOCK_MONOTONIC, system-wide: a restored deadline means the same instant.
        self.deadline = 0.0

    @property
    def armed(self) -> bool:
        return self._handle is not None

    def arm(self, usec: int, callback: Callable[[], None]) -> None:
        """Fire ``callback`` in ``usec``; 0 and infinity mean no timeout (the timer stays off)."""
        self.cancel()
        if usec in (0, USEC_INFINITY):
            return
        self.arm_at(self._loop.time() + usec / 1e6, callback)

    def arm_delay(self, usec: int, callback: Callable[[], None]) -> None:
        """A delay rather than a timeout (RestartSec=): 0 fires on the next loop turn."""
        if usec == 0:
            self.arm_at(self._loop.time(), callback)
        else:
            self.arm(usec, callback)

    def arm_at(self, deadline: float, callback: Callable[[], None]) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self.deadline = deadline
        self._callback = callback
        self._handle = self._loop.call_at(deadline, self._fire)

    def cancel(self) -> None:
        """Also forgets a restored deadline the state left behind."""
        self.deadline = 0.0
        self._callback = None
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def extend(self, usec: int) -> None:
        """EXTEND_TIMEOUT_USEC=: push a running timeout out to at least now + usec."""
        wanted = self._loop.time() + usec / 1e6
        if self._handle is not None and self._callback is not None and wanted > self.deadline:
            self.arm_at(wanted, self._callback)

    def _fire(self) -> None:
        callback, self._handle, self._callback = self._callback, None, None
        if callback is not None:
            callback()
