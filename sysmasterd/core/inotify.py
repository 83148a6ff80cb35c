"""inotify(7): an instance, its watches and its events, through libc with ctypes.

A thin layer of our own rather than a library: inotify_simple is maintained and about as small
(ctypes too), but would be one more runtime Requires of the openEuler rpm for three system calls
and one struct; asyncinotify and aionotify bring their own asyncio iteration, while the core wants
a bare non-blocking fd for loop.add_reader() and throws an instance away at every re-arm, as
systemd's path units do.
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct
from dataclasses import dataclass

IN_ACCESS = 0x00000001
IN_MODIFY = 0x00000002
IN_ATTRIB = 0x00000004
IN_CLOSE_WRITE = 0x00000008
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_DELETE_SELF = 0x00000400
IN_MOVE_SELF = 0x00000800
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
IN_ONLYDIR = 0x01000000
IN_DONT_FOLLOW = 0x02000000

_EVENT = struct.Struct("iIII")  # wd, mask, cookie, len; then len bytes of NUL-padded name
# Enough for a burst of events with names up to NAME_MAX (inotify(7)'s suggested buffer).
_READ_SIZE = 64 * (_EVENT.size + 256)

_libc = ctypes.CDLL(None, use_errno=True)
_libc.inotify_init1.argtypes = [ctypes.c_int]
_libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
_libc.inotify_rm_watch.argtypes = [ctypes.c_int, ctypes.c_int]


@dataclass(frozen=True)
class Event:
    wd: int
    mask: int
    cookie: int
    name: str  # the entry's name for events on a watched directory's children, else ""


def _raise(what: str, path: str | None = None) -> None:
    err = ctypes.get_errno()
    raise OSError(err, f"{what}: {os.strerror(err)}", path)


class Inotify:
    """One inotify instance (non-blocking, close-on-exec)."""

    def __init__(self) -> None:
        fd = _libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            _raise("inotify_init1")
        self.fd: int = fd

    def fileno(self) -> int:
        return self.fd

    def add_watch(self, path: str, mask: int) -> int:
        """Watch ``path`` (or change the mask of its inode's watch); returns the watch descriptor."""
        wd = _libc.inotify_add_watch(self.fd, os.fsencode(path), mask)
        if wd < 0:
            _raise("inotify_add_watch", path)
        return int(wd)

    def rm_watch(self, wd: int) -> None:
        if _libc.inotify_rm_watch(self.fd, wd) < 0:
            _raise("inotify_rm_watch")

    def read_events(self) -> list[Event]:
        """The events queued now; none when there are none (the fd never blocks)."""
        try:
            data = os.read(self.fd, _READ_SIZE)
        except OSError as e:
            if e.errno in (errno.EAGAIN, errno.EINTR):
                return []
            raise
        events = []
        offset = 0
        while offset + _EVENT.size <= len(data):
            wd, mask, cookie, length = _EVENT.unpack_from(data, offset)
            offset += _EVENT.size
            raw = data[offset:offset + length]
            offset += length
            events.append(Event(wd, mask, cookie, os.fsdecode(raw.split(b"\0", 1)[0])))
        return events

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> Inotify:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
