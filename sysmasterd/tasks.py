"""Background work of the core and of devmaster that may not vanish: a task that ends with an
exception says so at error level, with its traceback, and hands the failure to whoever decides what
follows (the core ends; under sysmaster-init a new one takes over); a one-shot task's failure is
logged and costs only its own work; an exception escaping a callback ends a supervised daemon."""

from __future__ import annotations

import asyncio
import logging
import os
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


def one_shot(coro: Coroutine[Any, Any, None], what: str, logger: logging.Logger = log) -> asyncio.Task[None]:
    """A task doing one piece of work (a peer's handshake, a name-owner query): when it fails the
    failure is logged at error level with its traceback; only that piece of work is lost."""
    task = asyncio.get_running_loop().create_task(coro, name=what)

    def finished(t: asyncio.Task[None]) -> None:
        if not t.cancelled() and (exc := t.exception()) is not None:
            logger.error("%s failed: %s", what, exc, exc_info=exc)

    task.add_done_callback(finished)
    return task


def crash_on_loop_exception(logger: logging.Logger, exit_code: int = 70) \
        -> Callable[[asyncio.AbstractEventLoop, dict[str, Any]], None]:
    """An event loop exception handler for a supervised daemon: an exception that escaped a
    callback (a reader, a timer, a task nobody awaits) means state the daemon can no longer trust,
    so it is logged with its traceback and the process ends at once (crash-only): its supervisor
    (sysmaster-init for the core, the service manager for devmaster) starts a new one."""

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        logger.critical("unhandled exception in the event loop: %s", context.get("message"),
                        exc_info=exc if isinstance(exc, BaseException) else None)
        for h in logging.getLogger().handlers + logger.handlers:
            h.flush()
        os._exit(exit_code)

    return handler
