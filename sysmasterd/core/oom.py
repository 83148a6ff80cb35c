"""The kernel's OOM kills inside unit cgroups, noticed as systemd 252's unit_check_oom() notices
them: the "oom_kill" counter of the cgroup's memory.events (cgroup2 with the memory controller;
v1 has no such counter, so there a killed service just died of SIGKILL). The file is watched with
inotify while the unit runs, and looked at again before an exit of one of the unit's processes is
handled, since that exit may be read before the inotify event.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable

from sysmasterd.core.inotify import IN_MODIFY, Inotify


def oom_kills(events_file: str) -> int | None:
    """The oom_kill count of a memory.events file, None when unreadable."""
    try:
        with open(events_file) as f:
            for line in f:
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
    except (OSError, ValueError):
        return None
    return 0


class OOMWatch:
    """memory.events of the units' cgroups, by unit name; `on_kill(unit)` once per new kill count."""

    def __init__(self, loop: asyncio.AbstractEventLoop, on_kill: Callable[[str], None],
                 log: logging.Logger) -> None:
        self.loop = loop
        self.on_kill = on_kill
        self.log = log
        self._inotify: Inotify | None = None
        self._files: dict[str, tuple[str, int]] = {}  # unit -> (memory.events, watch descriptor)
        self._units: dict[int, str] = {}  # watch descriptor -> unit
        self._seen: dict[str, int] = {}  # unit -> kills already reported

    def watch(self, unit: str, events_file: str) -> None:
        """Follow `events_file` for `unit`; kills counted before now are not the unit's news."""
        if self._files.get(unit, ("", -1))[0] == events_file:
            return
        self.forget(unit)
        count = oom_kills(events_file)
        if count is None:
            return
        try:
            if self._inotify is None:
                self._inotify = Inotify()
                self.loop.add_reader(self._inotify.fileno(), self._dispatch)
            wd = self._inotify.add_watch(events_file, IN_MODIFY)
        except OSError as e:
            # still checked at each exit of the unit's processes
            self.log.debug("%s: cannot watch %s: %s", unit, events_file, e.strerror)
            wd = -1
        self._files[unit] = (events_file, wd)
        if wd >= 0:
            self._units[wd] = unit
        self._seen[unit] = count

    def forget(self, unit: str) -> None:
        _file, wd = self._files.pop(unit, ("", -1))
        self._seen.pop(unit, None)
        if wd >= 0 and self._units.get(wd) == unit:
            del self._units[wd]
            if self._inotify is not None:
                try:
                    self._inotify.rm_watch(wd)
                except OSError:
                    pass  # the cgroup, and with it the watch, is gone already

    def check(self, unit: str) -> None:
        """Report a kill the unit has not been told of yet."""
        entry = self._files.get(unit)
        if entry is None:
            return
        count = oom_kills(entry[0])
        if count is None or count <= self._seen.get(unit, 0):
            return
        self._seen[unit] = count
        self.on_kill(unit)

    def _dispatch(self) -> None:
        assert self._inotify is not None
        try:
            events = self._inotify.read_events()
        except OSError as e:
            self.log.warning("Failed to read cgroup memory events: %s", os.strerror(e.errno or 0))
            return
        for unit in {self._units[e.wd] for e in events if e.wd in self._units}:
            self.check(unit)

    def close(self) -> None:
        if self._inotify is not None:
            self.loop.remove_reader(self._inotify.fileno())
            self._inotify.close()
            self._inotify = None
        self._files.clear()
        self._units.clear()
        self._seen.clear()
