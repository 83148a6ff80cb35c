"""A service's file descriptor store (FileDescriptorStoreMax=, sd_notify FDSTORE=1/FDSTOREREMOVE=1/
FDNAME=/FDPOLL=0), with systemd 252's rules: a full store closes what does not fit, an fd
already held (same open file) is not stored twice, the newest entry comes first, an entry whose
fd reports EPOLLHUP/EPOLLERR goes by itself, and the whole store is passed to the service after
its socket fds on every start.

The fds are also handed to sysmaster-init (when the core runs under it) under
``fdstore:<unit>``, replaced as a whole on every change, so that a core killed at any instant or
re-executed comes back holding them; their names travel in the unit's stored state."""

from __future__ import annotations

import contextlib
import os
import re
import select
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sysmasterd.core.unit import Unit

FD_STORE_PREFIX = "fdstore:"
DEFAULT_NAME = "stored"
# fdname_is_valid(): printable ASCII without ':', at most FDNAME_MAX (255) characters.
_VALID_NAME = re.compile(r"[\x20-\x39\x3b-\x7e]{1,255}")


def name_is_valid(name: str) -> bool:
    return bool(_VALID_NAME.fullmatch(name))


@dataclass
class Entry:
    fd: int
    name: str
    poll: bool


class FdStore:
    def __init__(self, unit: Unit) -> None:
        self.unit = unit
        self.entries: list[Entry] = []
        # One epoll set per store, watched on the loop: epoll with no event bits still reports
        # HUP/ERR, which is all systemd's fd store polls for (EPOLLIN would spin on data).
        self._epoll: select.epoll | None = None

    def __len__(self) -> int:
        return len(self.entries)

    # -- changes ------------------------------------------------------------------------------

    def add(self, fds: list[int], name: str | None, poll: bool, limit: int) -> None:
        """FDSTORE=1: take ownership of ``fds`` (each is stored or closed)."""
        log, uid = self.unit.manager.log, self.unit.id
        added = False
        for i, fd in enumerate(fds):
            if any(_same_fd(e.fd, fd) for e in self.entries):
                os.close(fd)
                continue
            if len(self.entries) >= limit:
                log.warning("%s: Cannot store more fds than FileDescriptorStoreMax=%d, closing remaining.", uid, limit)
                for rest in fds[i:]:
                    os.close(rest)
                break
            entry = Entry(fd, name or DEFAULT_NAME, poll)
            self.entries.insert(0, entry)
            if poll:
                self._poll(entry)
            log.debug("%s: Added fd %d (%s) to fd store.", uid, fd, name or "n/a")
            added = True
        if added:
            self._changed()

    def remove(self, name: str) -> None:
        """FDSTOREREMOVE=1 with FDNAME=: every entry of that name goes."""
        gone = [e for e in self.entries if e.name == name]
        for e in gone:
            self.unit.manager.log.debug("%s: Got explicit request to remove fd %d (%s), closing.", self.unit.id,
                                        e.fd, name)
            self._drop(e)
        if gone:
            self._changed()

    def release(self) -> None:
        if not self.entries:
            return
        self.unit.manager.log.debug("%s: Releasing all stored fds", self.unit.id)
        for e in list(self.entries):
            self._drop(e)
        self._changed()

    def fds_and_names(self) -> tuple[list[int], list[str]]:
        return [e.fd for e in self.entries], [e.name for e in self.entries]

    # -- persistence ----------------------------------------------------------------------------

    def serialize(self) -> list[list[Any]]:
        return [[e.name, e.poll] for e in self.entries]

    def adopt(self, stored: list[list[Any]]) -> None:
        """After a core restart: the fds sysmaster-init kept, paired with the names the store
        holds. A count that does not match (the core died between the two writes) keeps the fds
        under the default name rather than losing them."""
        holder = self.unit.manager.runtime.fd_holder
        fds = holder.take_fds(self._holder_name()) if holder is not None else []
        if len(stored) != len(fds):
            stored = [[DEFAULT_NAME, True]] * len(fds)
        self.entries = [Entry(fd, str(name), bool(poll)) for fd, (name, poll) in zip(fds, stored, strict=True)]
        for e in self.entries:
            if e.poll:
                self._poll(e)
        if self.entries:
            self.unit.manager.log.debug("%s: adopted %d stored fds from sysmaster-init", self.unit.id, len(fds))

    # -- internals ----------------------------------------------------------------------------------

    def _holder_name(self) -> str:
        return FD_STORE_PREFIX + self.unit.id

    def _changed(self) -> None:
        holder = self.unit.manager.runtime.fd_holder
        if holder is not None:
            if self.entries:
                holder.store_fds(self._holder_name(), [e.fd for e in self.entries])
            else:
                holder.remove_fds(self._holder_name())
        if not self.entries and self._epoll is not None:
            self.unit.manager.loop.remove_reader(self._epoll.fileno())
            self._epoll.close()
            self._epoll = None
        self.unit.notify_changed()  # NFileDescriptorStore, and the names into the state store

    def _drop(self, e: Entry) -> None:
        if self._epoll is not None:
            with contextlib.suppress(OSError):
                self._epoll.unregister(e.fd)
        with contextlib.suppress(OSError):
            os.close(e.fd)
        self.entries.remove(e)

    def _poll(self, e: Entry) -> None:
        if self._epoll is None:
            self._epoll = select.epoll(flags=select.EPOLL_CLOEXEC)
            self.unit.manager.loop.add_reader(self._epoll.fileno(), self._on_hangup)
        try:
            self._epoll.register(e.fd, 0)
        except PermissionError:
            pass  # regular files and the like cannot be polled, which systemd accepts as well
        except OSError as err:
            self.unit.manager.log.debug("%s: cannot poll stored fd %d: %s", self.unit.id, e.fd, err)

    def _on_hangup(self) -> None:
        if self._epoll is None:
            return
        hung = {fd for fd, _ev in self._epoll.poll(0)}
        gone = [e for e in self.entries if e.fd in hung]
        for e in gone:
            self.unit.manager.log.debug("%s: Received EPOLLHUP on stored fd %d (%s), closing.", self.unit.id, e.fd,
                                        e.name)
            self._drop(e)
        if gone:
            self._changed()


def _same_fd(a: int, b: int) -> bool:
    """Same open file description, as systemd's same_fd(): kcmp(KCMP_FILE) where the kernel
    answers, else same inode, access mode, flags and offset."""
    if a == b:
        return True
    try:
        sa, sb = os.fstat(a), os.fstat(b)
    except OSError:
        return False
    if (sa.st_dev, sa.st_ino) != (sb.st_dev, sb.st_ino):
        return False
    answer = _kcmp_file(a, b)
    if answer is not None:
        return answer
    import fcntl

    try:
        if fcntl.fcntl(a, fcntl.F_GETFL) != fcntl.fcntl(b, fcntl.F_GETFL):
            return False
        return os.lseek(a, 0, os.SEEK_CUR) == os.lseek(b, 0, os.SEEK_CUR)
    except OSError:
        return True  # sockets and pipes have no offset: the same inode is the same object


_KCMP_NR = {"x86_64": 312, "aarch64": 272, "riscv64": 272, "loongarch64": 272}
_KCMP_FILE = 0


def _kcmp_file(a: int, b: int) -> bool | None:
    import ctypes
    import platform

    nr = _KCMP_NR.get(platform.machine())
    if nr is None:
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    pid = os.getpid()
    r = libc.syscall(ctypes.c_long(nr), ctypes.c_int(pid), ctypes.c_int(pid), ctypes.c_int(_KCMP_FILE),
                     ctypes.c_ulong(a), ctypes.c_ulong(b))
    return None if r < 0 else r == 0
