"""Wake-ups on a chosen clock, coalesced the way sd-event coalesces them, through timerfd(2).

asyncio's own timers run on CLOCK_MONOTONIC only; timer units need CLOCK_REALTIME (calendar
events must follow the wall clock, also when it is set) and CLOCK_MONOTONIC, and want to hear
when the wall clock is set (TFD_TIMER_CANCEL_ON_SET). Python 3.11 has no os.timerfd_*, hence
this thin ctypes layer: one timerfd per clock while something is armed on it, on loop.add_reader.

Coalescing follows sd-event's sleep_between(): each source elapses somewhere in [next, next +
accuracy]; the clock's timerfd is set to one instant in the window of the earliest deadline
that lies at the same offset within every minute (else every 10 s, 1 s, 250 ms) on this boot,
the offset being derived from the boot ID as sd-event derives it, and every source whose
`next` has passed by then is dispatched together.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from compat.model import USEC_INFINITY

if TYPE_CHECKING:
    import asyncio

CLOCK_REALTIME = 0
CLOCK_MONOTONIC = 1
CLOCK_BOOTTIME = 7
TFD_TIMER_ABSTIME = 1
TFD_TIMER_CANCEL_ON_SET = 2
_TFD_CLOEXEC = os.O_CLOEXEC
_TFD_NONBLOCK = os.O_NONBLOCK
_TIME_T_MAX = (1 << (8 * ctypes.sizeof(ctypes.c_long) - 1)) - 1

USEC_PER_SEC = 1_000_000
USEC_PER_MINUTE = 60 * USEC_PER_SEC
_STEPS = (USEC_PER_MINUTE, 10 * USEC_PER_SEC, USEC_PER_SEC, 250_000)


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _ITimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


_libc = ctypes.CDLL(None, use_errno=True)
_libc.timerfd_create.argtypes = [ctypes.c_int, ctypes.c_int]
_libc.timerfd_settime.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.POINTER(_ITimerspec),
                                  ctypes.POINTER(_ITimerspec)]


def now(clock: int) -> int:
    return time.clock_gettime_ns(clock) // 1000


class TimerFd:
    """One timerfd, armed at absolute instants; ``on_fire(canceled)`` runs when it expires, or
    with canceled=True when CANCEL_ON_SET saw the clock being set."""

    def __init__(self, loop: asyncio.AbstractEventLoop, clock: int, on_fire: Callable[[bool], None]) -> None:
        fd = _libc.timerfd_create(clock, _TFD_CLOEXEC | _TFD_NONBLOCK)
        if fd < 0:
            err = ctypes.get_errno()
            raise OSError(err, f"timerfd_create: {os.strerror(err)}")
        self.fd: int = fd
        self._loop = loop
        self._on_fire = on_fire
        loop.add_reader(fd, self._readable)

    def set_abs(self, usec: int, cancel_on_set: bool = False) -> None:
        """Expire at ``usec`` on the clock (in the past: at once)."""
        spec = _ITimerspec()
        sec, rest = divmod(max(usec, 1), USEC_PER_SEC)  # a zero it_value would disarm it
        spec.it_value.tv_sec, spec.it_value.tv_nsec = min(sec, _TIME_T_MAX), rest * 1000
        flags = TFD_TIMER_ABSTIME | (TFD_TIMER_CANCEL_ON_SET if cancel_on_set else 0)
        if _libc.timerfd_settime(self.fd, flags, ctypes.byref(spec), None) < 0:
            err = ctypes.get_errno()
            raise OSError(err, f"timerfd_settime: {os.strerror(err)}")

    def _readable(self) -> None:
        try:
            os.read(self.fd, 8)
        except BlockingIOError:
            return
        except OSError as e:
            if e.errno != errno.ECANCELED:
                raise
            self._on_fire(True)
            return
        self._on_fire(False)

    def close(self) -> None:
        if self.fd >= 0:
            self._loop.remove_reader(self.fd)
            os.close(self.fd)
            self.fd = -1


class ClockSetWatch:
    """Calls ``on_set`` whenever the wall clock is set (systemd's time-change timerfd: armed at
    the end of time on CLOCK_REALTIME with CANCEL_ON_SET, re-armed after each notice)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, on_set: Callable[[], None]) -> None:
        self._on_set = on_set
        self._fd = TimerFd(loop, CLOCK_REALTIME, self._fired)
        self._arm()

    def _arm(self) -> None:
        self._fd.set_abs(_TIME_T_MAX * USEC_PER_SEC, cancel_on_set=True)

    def _fired(self, canceled: bool) -> None:
        self._arm()
        if canceled:
            self._on_set()

    def close(self) -> None:
        self._fd.close()


@functools.cache
def perturbation() -> int:
    """sd-event's per-boot offset within a minute: the two halves of the boot ID xor'ed (the
    machine ID if there is no boot ID), modulo one minute."""
    for path in ("/proc/sys/kernel/random/boot_id", "/etc/machine-id"):
        try:
            with open(path) as f:
                raw = uuid.UUID(f.read().strip()).bytes
        except (OSError, ValueError):
            continue
        return (int.from_bytes(raw[:8], "little") ^ int.from_bytes(raw[8:], "little")) % USEC_PER_MINUTE
    return 0


def sleep_between(a: int, b: int, perturb: int) -> int:
    """The instant in [a, b] to wake at: sd-event's sleep_between()."""
    if a <= 0:
        return 0
    if a >= USEC_INFINITY:
        return USEC_INFINITY
    if b <= a + 1:
        return a
    for step in _STEPS:
        c = (b // step) * step + perturb % step
        if c >= b:
            if c < step:
                return b
            c -= step
        if c >= a:
            return c
    return b


@dataclass(eq=False)
class Source:
    """One armed wake-up: due at ``next``, fine anywhere up to ``next + accuracy``."""

    next: int
    accuracy: int
    callback: Callable[[], None]


class EventClock:
    """The sources armed on one clock of one loop; its timerfd exists while any is armed."""

    def __init__(self, loop: asyncio.AbstractEventLoop, clock: int) -> None:
        self.loop = loop
        self.clock = clock
        self._sources: list[Source] = []
        self._fd: TimerFd | None = None

    def add(self, source: Source) -> None:
        self._sources.append(source)
        self._rearm()

    def remove(self, source: Source) -> None:
        if source in self._sources:
            self._sources.remove(source)
            self._rearm()

    def close(self) -> None:
        self._sources.clear()
        self._rearm()

    def _rearm(self) -> None:
        if not self._sources:
            if self._fd is not None:
                self._fd.close()
                self._fd = None
            return
        earliest = min(s.next for s in self._sources)
        latest = min(min(s.next + s.accuracy, USEC_INFINITY) for s in self._sources)
        when = sleep_between(earliest, max(earliest, latest), perturbation())
        if self._fd is None:
            self._fd = TimerFd(self.loop, self.clock, self._fired)
        self._fd.set_abs(when)

    def _fired(self, canceled: bool) -> None:
        current = now(self.clock)
        due = [s for s in self._sources if s.next <= current]
        for s in due:
            self._sources.remove(s)
        self._rearm()
        for s in due:
            s.callback()
