"""Noticing a change of the local time zone, as systemd's manager does (manager_setup_timezone_change).

/etc/localtime itself is watched (never following a symlink) for a changed link count, a rename
and a close after writing; while it does not exist, /etc is watched for its creation. Every
event is checked against the file's lstat() mtime, so only a real change reaches the units: the
C library re-reads the zone (tzset) and then ``on_change`` runs, which tells the units
(a timer with OnTimezoneChange=yes fires, calendar timers compute their next elapse again).
The watch is set up anew after each change, because /etc/localtime may now be another inode.
"""

from __future__ import annotations

import errno
import logging
import os
import time
from typing import TYPE_CHECKING

from sysmasterd.core.inotify import (
    IN_ATTRIB,
    IN_CLOSE_WRITE,
    IN_CREATE,
    IN_DONT_FOLLOW,
    IN_MOVE_SELF,
    IN_MOVED_TO,
    IN_ONLYDIR,
    Inotify,
)

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Callable

LOCALTIME = "/etc/localtime"
_FILE_MASK = IN_ATTRIB | IN_MOVE_SELF | IN_CLOSE_WRITE | IN_DONT_FOLLOW
_DIR_MASK = IN_CREATE | IN_MOVED_TO | IN_ONLYDIR


class TimezoneWatch:
    def __init__(self, loop: asyncio.AbstractEventLoop, on_change: Callable[[], None],
                 log: logging.Logger | None = None, path: str = LOCALTIME) -> None:
        self.loop = loop
        self.on_change = on_change
        self.log = log or logging.getLogger("sysmasterd")
        self.path = path
        self._mtime: int | None = None  # None: not accessible
        self._inotify: Inotify | None = None
        self._read_stat()
        self._watch()

    def _read_stat(self) -> bool:
        """Remember the file's mtime; True if it differs from what was remembered."""
        try:
            mtime: int | None = os.lstat(self.path).st_mtime_ns
        except OSError as e:
            self.log.debug("Failed to stat %s, ignoring: %s", self.path, e.strerror)
            mtime = None
        changed = mtime != self._mtime
        self._mtime = mtime
        return changed

    def _watch(self) -> None:
        # The new watch first, then the old one goes: no event falls between the two.
        new = Inotify()
        try:
            try:
                new.add_watch(self.path, _FILE_MASK)
            except FileNotFoundError:
                self.log.debug("%s doesn't exist yet, watching %s instead.", self.path, os.path.dirname(self.path))
                new.add_watch(os.path.dirname(self.path) or ".", _DIR_MASK)
        except OSError as e:
            new.close()
            self.log.error("Failed to create timezone change event source: %s", e.strerror)
            return
        self._drop()
        self._inotify = new
        self.loop.add_reader(new.fileno(), self._dispatch)

    def _drop(self) -> None:
        if self._inotify is not None:
            self.loop.remove_reader(self._inotify.fileno())
            self._inotify.close()
            self._inotify = None

    def _dispatch(self) -> None:
        assert self._inotify is not None
        try:
            self._inotify.read_events()
        except OSError as e:
            if e.errno != errno.EBADF:
                self.log.warning("Failed to read timezone change events: %s", e.strerror)
        self.log.debug("inotify event for %s", self.path)
        if not self._read_stat():
            return
        self._watch()
        time.tzset()
        self.log.debug("Timezone has been changed (now: %s).", time.tzname[time.daylight])
        self.on_change()

    def close(self) -> None:
        self._drop()
