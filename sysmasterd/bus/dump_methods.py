"""The Manager's Dump methods (`systemd-analyze dump`): the text as a string, or in a sealed memfd
passed as a Unix fd, the way systemd 252 answers them, unprivileged callers rate-limited as
systemd limits them (10 dumps per 10 minutes; root is never refused)."""

from __future__ import annotations

import fcntl
import os
from typing import TYPE_CHECKING

from sysmasterd.bus import errors
from sysmasterd.bus.iface import method
from sysmasterd.core.dump import dump_manager
from sysmasterd.core.ratelimit import RateLimit

if TYPE_CHECKING:
    from sysmasterd.bus.router import Call
    from sysmasterd.core.manager import Manager

_INTERVAL_USEC = 10 * 60 * 1_000_000
_BURST = 10
_SEALS = fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE
LIMITS_EXCEEDED = "org.freedesktop.DBus.Error.LimitsExceeded"


def data_fd(text: str) -> int:
    """A read-only fd holding `text` from offset 0 (systemd's acquire_data_fd())."""
    fd = os.memfd_create("data-fd", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        data = text.encode()
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, _SEALS)
        os.lseek(fd, 0, os.SEEK_SET)
    except BaseException:
        os.close(fd)
        raise
    return fd


class DumpMethods:
    """Mixed into the Manager interface."""

    dump_limit: RateLimit | None = None

    async def dump_text(self, call: Call, m: Manager, patterns: list[str] | None) -> str:
        from sysmasterd.bus.manager_iface import FEATURES, VERSION

        if self.dump_limit is None:
            self.dump_limit = RateLimit()
        if not self.dump_limit.below(_INTERVAL_USEC, _BURST) and await call.caller_uid() != 0:
            raise errors.bus_error(LIMITS_EXCEEDED,
                                   "Dump request rejected due to rate limit on unprivileged callers, blocked for "
                                   f"{self._left()}.")
        return dump_manager(m, patterns, f"Manager: sysmasterd {VERSION}\nFeatures: {FEATURES}\n")

    def _left(self) -> str:
        from sysmasterd.core.clock import now_monotonic_usec

        assert self.dump_limit is not None
        left = max(0, self.dump_limit.begin + _INTERVAL_USEC - now_monotonic_usec())
        minutes, seconds = divmod(left // 1_000_000, 60)
        return f"{minutes}min {seconds}s" if minutes else f"{seconds}s"

    async def dump_fd(self, call: Call, m: Manager, patterns: list[str] | None) -> int:
        if not call.conn.unix_fd:
            # sd-bus refuses to append an fd for a peer without fd passing: -EOPNOTSUPP.
            raise errors.bus_error(errors.NOT_SUPPORTED, "Operation not supported")
        return data_fd(await self.dump_text(call, m, patterns))

    @method("Dump")
    async def dump(self, call: Call, m: Manager) -> str:
        return await self.dump_text(call, m, None)

    @method("DumpByFileDescriptor")
    async def dump_by_fd(self, call: Call, m: Manager) -> int:
        return await self.dump_fd(call, m, None)

    @method("DumpUnitsMatchingPatterns")
    async def dump_patterns(self, call: Call, m: Manager, patterns: list[str]) -> str:
        return await self.dump_text(call, m, patterns)

    @method("DumpUnitsMatchingPatternsByFileDescriptor")
    async def dump_patterns_by_fd(self, call: Call, m: Manager, patterns: list[str]) -> int:
        return await self.dump_fd(call, m, patterns)
