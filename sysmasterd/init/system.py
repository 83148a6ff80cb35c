"""What only PID 1 does to the system: API filesystems, console, killing everyone, reboot(2).

Guarded on purpose: nothing here mounts, unmounts or reboots unless init is PID 1, and the
mount/unmount/console parts only act in the initial PID namespace (the real machine). In a
namespace or container, whoever made it provides /proc, /sys, /dev and owns the mounts.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import subprocess

from sysmasterd.init.log import log

_INITIAL_PID_NS_INODE = 0xEFFFFFFC  # PROC_PID_INIT_INO: fixed inode of the first PID namespace
_MS_RDONLY = 1
_MS_NOSUID = 2
_MS_NODEV = 4
_MS_NOEXEC = 8
_MS_REMOUNT = 32
_PR_SET_CHILD_SUBREAPER = 36
_REBOOT_CMDS = {"reboot": 0x01234567, "halt": 0xCDEF0123, "poweroff": 0x4321FEDC, "kexec": 0x45584543}
KEXEC = "/sbin/kexec"
# (what, where, fstype, flags, data), in mount order
_API_MOUNTS = (
    ("proc", "/proc", "proc", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC, ""),
    ("sysfs", "/sys", "sysfs", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC, ""),
    ("devtmpfs", "/dev", "devtmpfs", _MS_NOSUID, "mode=755"),
    ("devpts", "/dev/pts", "devpts", _MS_NOSUID | _MS_NOEXEC, "mode=620,ptmxmode=000"),
    ("tmpfs", "/dev/shm", "tmpfs", _MS_NOSUID | _MS_NODEV, "mode=1777"),
    ("tmpfs", "/run", "tmpfs", _MS_NOSUID | _MS_NODEV, "mode=755"),
    ("cgroup2", "/sys/fs/cgroup", "cgroup2", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC, "nsdelegate"),
)
_API_ROOTS = ("/proc", "/sys", "/dev", "/run")

_libc = ctypes.CDLL(None, use_errno=True)


def _errno_error(what: str) -> OSError:
    err = ctypes.get_errno()
    return OSError(err, f"{what}: {os.strerror(err)}")


def is_pid1() -> bool:
    return os.getpid() == 1


def in_initial_pid_namespace() -> bool:
    try:
        return os.stat("/proc/self/ns/pid").st_ino == _INITIAL_PID_NS_INODE
    except OSError:
        return False  # no /proc yet: cannot tell, so do nothing irreversible


def is_machine_init() -> bool:
    """PID 1 of the real machine, not of a namespace."""
    return is_pid1() and (in_initial_pid_namespace() or not os.path.ismount("/proc"))


def _mount(what: str, where: str, fstype: str | None, flags: int, data: str) -> None:
    if _libc.mount(what.encode(), where.encode(), fstype.encode() if fstype else None,
                   ctypes.c_ulong(flags), data.encode() or None) != 0:
        raise _errno_error(f"mount {where}")


def mount_api_filesystems() -> None:
    for what, where, fstype, flags, data in _API_MOUNTS:
        if not os.path.isdir(where) or os.path.ismount(where):
            continue
        try:
            _mount(what, where, fstype, flags, data)
        except OSError as e:
            log(str(e))


def setup_console() -> None:
    """Make /dev/console init's stdin/stdout/stderr (the kernel may have given none)."""
    try:
        fd = os.open("/dev/console", os.O_RDWR | os.O_NOCTTY)
    except OSError as e:
        log(f"/dev/console: {e}")
        return
    for target in (0, 1, 2):
        os.dup2(fd, target)
    if fd > 2:
        os.close(fd)


def set_child_subreaper() -> None:
    """When not PID 1, still inherit orphans so that they are reaped and reported."""
    _libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def descendants(pid: int) -> list[int]:
    found: list[int] = []
    todo = [pid]
    while todo:
        parent = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{parent}/task/{task}/children") as f:
                    kids = [int(k) for k in f.read().split()]
            except OSError:
                continue
            found.extend(kids)
            todo.extend(kids)
    return found


def kill_all(sig: int) -> None:
    """Signal every process but init: all of the namespace as PID 1, else our descendants."""
    if is_pid1():
        with contextlib.suppress(ProcessLookupError):
            os.kill(-1, sig)
        return
    for pid in descendants(os.getpid()):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def unescape_mount_path(path: str) -> str:
    return path.encode().decode("unicode_escape").encode("latin-1").decode(errors="replace")


def plan_unmounts(mountinfo: str) -> list[str]:
    """/proc/self/mountinfo text -> mount points to unmount, last mounted first.

    The API filesystems and / stay (/ is remounted read-only afterwards).
    """
    points: list[str] = []
    for line in mountinfo.splitlines():
        parts = line.split()
        if len(parts) < 5:
            continue
        point = unescape_mount_path(parts[4])
        if point == "/" or any(point == r or point.startswith(r + "/") for r in _API_ROOTS):
            continue
        points.append(point)
    return points[::-1]


def unmount_all() -> None:
    try:
        with open("/proc/self/mountinfo") as f:
            points = plan_unmounts(f.read())
    except OSError:
        points = []
    for point in points:
        if _libc.umount2(point.encode(), 0) == 0:
            continue
        try:
            _mount("none", point, None, _MS_REMOUNT | _MS_RDONLY, "")
        except OSError as e:
            log(f"{point}: still mounted read-write ({e})")
    try:
        _mount("none", "/", None, _MS_REMOUNT | _MS_RDONLY, "")
    except OSError as e:
        log(f"/: {e}")


def route_ctrl_alt_del_to_init() -> None:
    """Ctrl-Alt-Del then sends SIGINT to init instead of rebooting at once."""
    _libc.reboot(ctypes.c_int(0))  # RB_DISABLE_CAD


def reboot(kind: str) -> None:
    """reboot(2). In a PID namespace this ends the namespace (its parent sees SIGINT or SIGHUP).

    kexec, as systemd-shutdown does it: on the machine, kexec-tools' `kexec -e` (which does what
    the kernel needs first), else reboot(2) with a loaded image; what returns reboots normally.
    A container only reboots."""
    if not is_pid1():
        raise RuntimeError("reboot(2) only as PID 1")
    if kind == "kexec":
        if is_machine_init():
            _kexec()
        kind = "reboot"
    _reboot(kind)


def _reboot(kind: str) -> None:
    cmd = _REBOOT_CMDS[kind]
    if _libc.reboot(ctypes.c_int(cmd - (1 << 32) if cmd >= 1 << 31 else cmd)) != 0:
        raise _errno_error(f"reboot({kind})")


def _kexec() -> None:
    log("rebooting with kexec")
    try:
        subprocess.run([KEXEC, "-e"], stdin=subprocess.DEVNULL, check=False, timeout=60)
    except (OSError, subprocess.SubprocessError) as e:
        log(f"cannot run {KEXEC} -e, trying reboot(2) with the loaded image: {e}")
        try:
            _reboot("kexec")
        except OSError as err:
            log(str(err))
    log("kexec did not happen: rebooting")
