"""systemd's RateLimit: at most `burst` events per window of `interval` usec, the window starting at
its first event (ratelimit_below())."""

from __future__ import annotations

from sysmasterd.core.clock import now_monotonic_usec


class RateLimit:
    def __init__(self) -> None:
        self.begin = 0
        self.num = 0

    def below(self, interval: int, burst: int) -> bool:
        if interval == 0 or burst == 0:
            return True
        now = now_monotonic_usec()
        if self.begin == 0 or self.begin + interval < now:
            self.begin, self.num = now, 0
        self.num += 1
        return self.num <= burst
