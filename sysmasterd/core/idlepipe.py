"""Type=idle: the main process is forked at once but waits before exec until the manager has no
jobs left, so that its output does not interleave with start-up (systemd's idle pipe).

Two pipes. The manager holds the write end of the first and closes it when the job queue runs
empty: every waiting child sees the hang-up and goes on. A child that waited IDLE_TIMEOUT
writes a byte into the second pipe and waits at most IDLE_TIMEOUT2 more; that byte makes the
manager close the first pipe for all idle children at once, as systemd does.
"""

from __future__ import annotations

import contextlib
import os
import select
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    import asyncio

IDLE_TIMEOUT_SEC = 5.0
IDLE_TIMEOUT2_SEC = 1.0


class IdleFds(NamedTuple):
    hangup_r: int  # the child waits for POLLHUP here
    hangup_w: int  # the manager's end: closing it releases the children
    bored_r: int  # the manager reads "a child timed out" here
    bored_w: int


class IdlePipe:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.fds: IdleFds | None = None

    def for_child(self) -> IdleFds:
        """The pipes a Type=idle child inherits, made on first use after the last release."""
        if self.fds is None:
            hangup_r, hangup_w = os.pipe2(os.O_CLOEXEC)
            bored_r, bored_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
            self.fds = IdleFds(hangup_r, hangup_w, bored_r, bored_w)
            self.loop.add_reader(bored_r, self.release)
        return self.fds

    def release(self) -> None:
        """Let every waiting idle child exec now."""
        if self.fds is None:
            return
        self.loop.remove_reader(self.fds.bored_r)
        for fd in self.fds:
            os.close(fd)
        self.fds = None


def _wait_hangup(fd: int, timeout: float) -> bool:
    poller = select.poll()
    poller.register(fd, select.POLLHUP)
    return bool(poller.poll(int(timeout * 1000)))


def wait_until_idle(fds: IdleFds) -> None:
    """In the forked child, before anything else: wait for the manager's release or the timeouts."""
    # Our copies of the manager's ends would keep the hang-up from ever arriving.
    os.close(fds.hangup_w)
    os.close(fds.bored_r)
    if not _wait_hangup(fds.hangup_r, IDLE_TIMEOUT_SEC):
        with contextlib.suppress(OSError):
            os.write(fds.bored_w, b"x")
            _wait_hangup(fds.hangup_r, IDLE_TIMEOUT2_SEC)
    os.close(fds.hangup_r)
    os.close(fds.bored_w)
