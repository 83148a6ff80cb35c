"""The kernel's mount table: /proc/self/mountinfo parsed into entries (pure), and the watch that
says when it changed (the I/O edge).

The kernel flags a change of the mount table as POLLPRI|POLLERR on an open mountinfo file (what
libmount's monitor waits for, and so systemd). asyncio's add_reader() waits for POLLIN only, so an
epoll set with EPOLLPRI registered stands in between: the epoll fd itself turns readable.
"""

from __future__ import annotations

import logging
import re
import select
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncio

MOUNTINFO = "/proc/self/mountinfo"
_OCTAL = re.compile(r"\\([0-7]{3})")


@dataclass(frozen=True)
class MountEntry:
    """One line of mountinfo, as libmount hands it to systemd."""

    mount_id: int
    parent_id: int
    root: str
    target: str  # the mount point
    fstype: str
    source: str
    vfs_options: str
    fs_options: str

    @property
    def options(self) -> str:
        """The per-mount and the super block options merged, as mnt_fs_strdup_options() does
        (the file system's leading rw/ro repeats the mount's and is dropped)."""
        fs = self.fs_options
        for flag in ("rw", "ro"):
            if fs == flag or fs.startswith(flag + ","):
                fs = fs[len(flag) + 1 :]
                break
        return ",".join(p for p in (self.vfs_options, fs) if p)


def unescape(field: str) -> str:
    """The kernel writes space, tab, newline and backslash of paths as octal escapes (\\040)."""
    raw = _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), field)
    # Octal escapes stand for bytes: a UTF-8 path comes back whole only once re-decoded.
    try:
        return raw.encode("latin-1").decode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return raw


def parse(text: str) -> list[MountEntry]:
    """Entries of a mountinfo text, in the kernel's order; malformed lines are skipped."""
    entries = []
    for line in text.splitlines():
        fields = line.split(" ")
        try:
            sep = fields.index("-", 6)
            entries.append(MountEntry(
                mount_id=int(fields[0]), parent_id=int(fields[1]), root=unescape(fields[3]),
                target=unescape(fields[4]), vfs_options=fields[5], fstype=unescape(fields[sep + 1]),
                source=unescape(fields[sep + 2]), fs_options=fields[sep + 3] if len(fields) > sep + 3 else "",
            ))
        except (ValueError, IndexError):
            continue
    return entries


def read(path: str = MOUNTINFO) -> list[MountEntry]:
    with open(path, encoding="latin-1") as f:  # escapes are decoded per field (unescape)
        return parse(f.read())


class MountinfoWatch:
    """Calls ``on_change`` whenever the mount table of the manager's namespace changes."""

    def __init__(self, loop: asyncio.AbstractEventLoop, on_change: Callable[[], None],
                 log: logging.Logger, path: str = MOUNTINFO) -> None:
        self._loop = loop
        self._on_change = on_change
        self._log = log
        self._file = open(path, "rb")  # noqa: SIM115 - held open for the watch's lifetime
        self._epoll = select.epoll()
        self._epoll.register(self._file.fileno(), select.EPOLLPRI)
        self._epoll.poll(0)  # the first poll reports the table as changed: consume that
        loop.add_reader(self._epoll.fileno(), self._ready)

    def _ready(self) -> None:
        # Asking the epoll fd whether it is readable already polled mountinfo, which clears the
        # kernel's flag: the answer here may be empty although the table did change.
        self._epoll.poll(0)
        try:
            self._on_change()
        except Exception:  # a bug in a handler must not end the watch
            self._log.exception("handling a mount table change failed")

    def close(self) -> None:
        self._loop.remove_reader(self._epoll.fileno())
        self._epoll.close()
        self._file.close()

