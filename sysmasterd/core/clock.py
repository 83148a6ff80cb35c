"""Timestamps as systemd keeps them: a (realtime, monotonic) pair in microseconds."""

from __future__ import annotations

import time
from dataclasses import dataclass


def now_realtime_usec() -> int:
    return time.time_ns() // 1000


def now_monotonic_usec() -> int:
    return time.monotonic_ns() // 1000


@dataclass(frozen=True)
class DualTimestamp:
    realtime: int = 0
    monotonic: int = 0

    @classmethod
    def now(cls) -> DualTimestamp:
        return cls(now_realtime_usec(), now_monotonic_usec())

    def __bool__(self) -> bool:
        return self.realtime != 0

    def to_list(self) -> list[int]:
        return [self.realtime, self.monotonic]

    @classmethod
    def from_list(cls, v: list[int] | None) -> DualTimestamp:
        return cls(int(v[0]), int(v[1])) if v else cls()
