"""A bind mount from the manager's mount namespace into a running unit's (BindMountUnit).

The source is cloned as a detached mount tree (open_tree), which the kernel lets us attach in
another namespace once we have joined it (setns, move_mount): no propagation directory has to
be set up when the unit starts, as systemd 252's /run/systemd/propagate scheme needs.

Joining a mount namespace needs a process that shares its filesystem context with no other
thread, so this runs as its own short process: `python -m sysmasterd.core.mount_into PID SRC
DEST READ_ONLY MKDIR`; it prints 0, or the errno's number, on stdout. The manager reads that, not
the exit status: its own reaper may collect the helper first.
"""

from __future__ import annotations

import ctypes
import os
import stat
import sys

from sysmasterd.core.shared_ns import setns

# The same numbers on every architecture: these syscalls came after the tables were unified.
_SYS_OPEN_TREE, _SYS_MOVE_MOUNT, _SYS_MOUNT_SETATTR = 428, 429, 442
_OPEN_TREE_CLONE, _OPEN_TREE_CLOEXEC = 1, os.O_CLOEXEC
_AT_FDCWD, _AT_EMPTY_PATH = -100, 0x1000
_MOVE_MOUNT_F_EMPTY_PATH = 0x4
_MOUNT_ATTR_RDONLY = 0x1


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _check(result: int) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return result


def _clone_tree(src: str, read_only: bool) -> int:
    fd = _check(_libc.syscall(_SYS_OPEN_TREE, _AT_FDCWD, os.fsencode(src), _OPEN_TREE_CLONE | _OPEN_TREE_CLOEXEC))
    if read_only:
        attr = _MountAttr(_MOUNT_ATTR_RDONLY, 0, 0, 0)
        _check(_libc.syscall(_SYS_MOUNT_SETATTR, fd, b"", _AT_EMPTY_PATH, ctypes.byref(attr),
                             ctypes.c_size_t(ctypes.sizeof(attr))))
    return fd


def _make_target(dest: str, is_dir: bool) -> None:
    """--mkdir: a directory for a directory, an empty file for anything else, parents included."""
    if is_dir:
        os.makedirs(dest, 0o755, exist_ok=True)
        return
    os.makedirs(os.path.dirname(dest) or "/", 0o755, exist_ok=True)
    os.close(os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644))


def bind_into(pid: int, src: str, dest: str, read_only: bool, mkdir: bool) -> None:
    is_dir = stat.S_ISDIR(os.stat(src).st_mode)
    tree = _clone_tree(src, read_only)
    ns = os.open(f"/proc/{pid}/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
    setns(ns, 0x00020000)  # CLONE_NEWNS
    os.chdir("/")
    if mkdir:
        _make_target(dest, is_dir)
    elif not os.path.lexists(dest):
        raise FileNotFoundError(2, os.strerror(2))
    _check(_libc.syscall(_SYS_MOVE_MOUNT, tree, b"", _AT_FDCWD, os.fsencode(dest), _MOVE_MOUNT_F_EMPTY_PATH))


def main(argv: list[str]) -> int:
    pid, src, dest, read_only, mkdir = argv
    try:
        bind_into(int(pid), src, dest, read_only == "1", mkdir == "1")
    except OSError as e:
        print(e.errno or 5)
        return 1
    print(0)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
