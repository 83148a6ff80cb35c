"""RemoveIPC=: the System V (shared memory, semaphores, message queues) and POSIX (/dev/shm,
/dev/mqueue) IPC objects a user or group owns, removed when its unit stops, as systemd 252's
clean-ipc.c removes them. Root's objects are never touched. Errors are logged, not fatal: an
object may vanish while we look at it.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os

IPC_RMID = 0
# /proc/sysvipc/<file>: the id column, then the owner and creator uid/gid columns (header-relative).
_SYSV = {"shm": "shmctl", "sem": "semctl", "msg": "msgctl"}

log = logging.getLogger("sysmasterd")


def _owned(uid: int | None, gid: int | None, row: dict[str, str]) -> bool:
    return (uid is not None and uid != 0 and str(uid) in (row["uid"], row["cuid"])) or (
        gid is not None and gid != 0 and str(gid) in (row["gid"], row["cgid"]))


def _sysv(uid: int | None, gid: int | None, proc: str = "/proc/sysvipc") -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    for kind, call in _SYSV.items():
        try:
            with open(os.path.join(proc, kind)) as f:
                header = f.readline().split()
                rows = [dict(zip(header, line.split(), strict=False)) for line in f]
        except OSError:
            continue
        for row in rows:
            if not _owned(uid, gid, row):
                continue
            ident = int(row[header[1]])  # shmid, semid or msqid
            args = (ident, 0, IPC_RMID, None) if kind == "sem" else (ident, IPC_RMID, None)
            if getattr(libc, call)(*args) < 0:
                e = ctypes.get_errno()
                if e not in (errno.EINVAL, errno.EIDRM):  # gone already
                    log.warning("Failed to remove SysV IPC %s %d: %s", kind, ident, os.strerror(e))


def _posix(uid: int | None, gid: int | None, top: str) -> None:
    """Files (and emptied directories) below `top` owned by the user or group."""
    for root, dirs, files in os.walk(top, topdown=False):
        for name in files + dirs:
            path = os.path.join(root, name)
            try:
                st = os.lstat(path)
                if (uid not in (None, 0) and st.st_uid == uid) or (gid not in (None, 0) and st.st_gid == gid):
                    (os.rmdir if name in dirs and not os.path.islink(path) else os.unlink)(path)
            except FileNotFoundError:
                pass
            except OSError as e:
                if e.errno != errno.ENOTEMPTY:  # a directory still holding someone else's objects
                    log.warning("Failed to remove POSIX IPC object %s: %s", path, e)


def clean(uid: int | None, gid: int | None, dev: str = "/dev") -> None:
    if uid in (None, 0) and gid in (None, 0):
        return
    _sysv(uid, gid)
    for name in ("shm", "mqueue"):
        _posix(uid, gid, os.path.join(dev, name))
