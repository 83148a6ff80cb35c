"""Moving PID 1 into a new root (SwitchRoot), as systemd 252's switch_root() does it.

The API filesystems move along (unless the new root has its own mounted there), the new root
becomes / with pivot_root (the old root is then detached) or, where that is refused, by moving
the new root's mount over / (initramfs cannot be pivoted away from). An old root on a RAM file
system (an initrd) is emptied afterwards: nothing else would ever free that memory.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import platform
import stat

from sysmasterd.init.log import log
from sysmasterd.init.system import unescape_mount_path

_MS_BIND, _MS_MOVE, _MS_REC, _MS_PRIVATE = 0x1000, 0x2000, 0x4000, 1 << 18
_MNT_DETACH = 2
# pivot_root(2) has no C library wrapper; the numbers of the architectures Debian and openEuler
# ship (the others use the MS_MOVE way, as switch_root(8) always does).
_SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "loongarch64": 41, "ppc64le": 203, "s390x": 217}
_API_DIRS = ("/sys", "/dev", "/run", "/proc")
_RAM_FILESYSTEMS = ("tmpfs", "ramfs", "rootfs")

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _os_error(what: str) -> OSError:
    err = ctypes.get_errno()
    return OSError(err, f"{what}: {os.strerror(err)}")


def _mount(source: str, target: str, flags: int) -> None:
    if _libc.mount(source.encode(), target.encode(), None, ctypes.c_ulong(flags), None) != 0:
        raise _os_error(f"mount {source} on {target}")


def _pivot_root(new_root: str, put_old: str) -> bool:
    number = _SYS_PIVOT_ROOT.get(platform.machine())
    return number is not None and _libc.syscall(number, new_root.encode(), put_old.encode()) == 0


def mounts(mountinfo: str) -> dict[str, str]:
    """/proc/self/mountinfo text -> mount point: file system type (the last mount on a point counts)."""
    found = {}
    for line in mountinfo.splitlines():
        parts = line.split()
        if len(parts) > 4 and " - " in line:
            point = unescape_mount_path(parts[4])
            found[point] = line.split(" - ", 1)[1].split()[0]
    return found


def _remove_children(dir_fd: int, device: int) -> None:
    """rm -rf of what is in the directory, never leaving its file system (mounts stay)."""
    for name in os.listdir(dir_fd):
        with contextlib.suppress(OSError):
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            if st.st_dev != device:
                continue
            if stat.S_ISDIR(st.st_mode):
                sub = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
                try:
                    _remove_children(sub, device)
                finally:
                    os.close(sub)
                os.rmdir(name, dir_fd=dir_fd)
            else:
                os.unlink(name, dir_fd=dir_fd)


def switch_root(new_root: str, old_root_after: str = "/mnt") -> None:
    """Make ``new_root`` the root of this process (and of what it starts). Raises OSError."""
    new_root = os.path.realpath(new_root)
    if new_root == "/":
        return
    with open("/proc/self/mountinfo") as f:
        mounted = mounts(f.read())
    on_ram = mounted.get("/") in _RAM_FILESYSTEMS
    old_fd = os.open("/", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC) if on_ram else -1
    try:
        put_old = os.path.join(new_root, old_root_after.lstrip("/"))
        os.makedirs(put_old, 0o755, exist_ok=True)
        # The kernel refuses MS_MOVE below shared mounts.
        _mount("none", "/", _MS_REC | _MS_PRIVATE)
        for path in _API_DIRS:
            target = os.path.join(new_root, path.lstrip("/"))
            if path not in mounted or target in mounted:  # nothing to move, or the new root has its own
                continue
            os.makedirs(target, 0o755, exist_ok=True)
            _mount(path, target, _MS_MOVE)
        os.chdir(new_root)
        if _pivot_root(new_root, put_old):
            if _libc.umount2(old_root_after.encode(), _MNT_DETACH) != 0:
                log(f"cannot detach the old root: {_os_error(old_root_after).strerror}")
        else:
            _mount(new_root, "/", _MS_MOVE)
        os.chroot(".")
        os.chdir("/")
        if old_fd >= 0:
            _remove_children(old_fd, os.fstat(old_fd).st_dev)
    finally:
        if old_fd >= 0:
            os.close(old_fd)
