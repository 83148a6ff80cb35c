"""Background tasks of the core that may not vanish: a task that ends with an exception says so at
error level, with its traceback, and hands the failure to whoever decides what follows (the core
ends; under sysmaster-init a new one takes over)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

log = logging.getLogger("sysmasterd")


def supervised(coro: Coroutine[Any, Any, None], what: str,
               on_failure: Callable[[BaseException], None]) -> asyncio.Task[None]:
    task = asyncio.get_running_loop().create_task(coro, name=what)

    def finished(t: asyncio.Task[None]) -> None:
        if t.cancelled():
            return
        exc = t.exception()
        if exc is None:
            exc = RuntimeError(f"{what} ended on its own")
            log.error("%s ended on its own", what)
        else:
            log.error("%s failed: %s", what, exc, exc_info=exc)
        on_failure(exc)

    task.add_done_callback(finished)
    return task
