"""A bind mount (BindMountUnit) or a disk image (MountImageUnit) from the manager's mount
namespace into a running unit's.

The source is cloned as a detached mount tree (open_tree), which the kernel lets us attach in
another namespace once we have joined it (setns, move_mount): no propagation directory has to
be set up when the unit starts, as systemd 252's /run/systemd/propagate scheme needs. An image is
first mounted in a mount namespace of this process's own, and that tree is the one cloned: a
plain file system image (what blkid finds) on a loop device of our own (core/loopdev.py), an
image with a partition table by the real systemd-dissect (GPT partitions, verity; its loop
devices detach themselves once unmounted).

Joining a mount namespace needs a process that shares its filesystem context with no other
thread, so this runs as its own short process: `python -m sysmasterd.core.mount_into PID SRC
DEST READ_ONLY MKDIR [IMAGE-OPTIONS-JSON]`; it prints 0, or the errno's number, on stdout. The
manager reads that, not the exit status: its own reaper may collect the helper first.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import stat
import subprocess
import sys
import tempfile

from compat.partitions import MOUNT_POINTS
from sysmasterd.core import loopdev
from sysmasterd.core.shared_ns import setns

# The same numbers on every architecture: these syscalls came after the tables were unified.
_SYS_OPEN_TREE, _SYS_MOVE_MOUNT, _SYS_MOUNT_SETATTR = 428, 429, 442
_OPEN_TREE_CLONE, _OPEN_TREE_CLOEXEC = 1, os.O_CLOEXEC
_AT_FDCWD, _AT_EMPTY_PATH, _AT_RECURSIVE = -100, 0x1000, 0x8000
_MOVE_MOUNT_F_EMPTY_PATH = 0x4
_MOUNT_ATTR_RDONLY = 0x1
_MS_RDONLY, _MS_NODEV, _MS_REC, _MS_PRIVATE, _MNT_DETACH, _CLONE_NEWNS = 1, 4, 0x4000, 1 << 18, 2, 0x00020000
# mount_setattr(2)'s per-mount attributes for the options an image's partitions may be given:
# option -> (attributes set, attributes cleared).
_ATIME_MASK = 0x70
IMAGE_OPTIONS = {
    "ro": (0x1, 0), "rw": (0, 0x1), "nosuid": (0x2, 0), "suid": (0, 0x2), "nodev": (0x4, 0), "dev": (0, 0x4),
    "noexec": (0x8, 0), "exec": (0, 0x8), "relatime": (0, _ATIME_MASK), "noatime": (0x10, _ATIME_MASK),
    "strictatime": (0x20, _ATIME_MASK), "nodiratime": (0x80, 0), "diratime": (0, 0x80), "defaults": (0, 0),
}
DISSECT = "systemd-dissect"
# systemd-dissect's words for what systemd's own dissection reports as an errno.
_DISSECT_ERRORS = {"Couldn't identify a suitable partition table or file system": errno.ENOPKG,
                   "No root partition for specified root hash found": errno.EADDRNOTAVAIL,
                   "Multiple suitable root partitions found in image": errno.ENOTUNIQ,
                   "No suitable root partition found in image": errno.ENXIO,
                   "Encrypted file system discovered, but decryption not requested": errno.EPROTONOSUPPORT}


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


def _set_attributes(fd: int, path: str, attr_set: int, attr_clr: int, flags: int) -> None:
    attr = _MountAttr(attr_set, attr_clr, 0, 0)
    _check(_libc.syscall(_SYS_MOUNT_SETATTR, fd, os.fsencode(path), flags, ctypes.byref(attr),
                         ctypes.c_size_t(ctypes.sizeof(attr))))


def _clone_tree(src: str, read_only: bool, recursive: bool = False) -> int:
    flags = _OPEN_TREE_CLONE | _OPEN_TREE_CLOEXEC | (_AT_RECURSIVE if recursive else 0)
    fd = _check(_libc.syscall(_SYS_OPEN_TREE, _AT_FDCWD, os.fsencode(src), flags))
    if read_only:
        _set_attributes(fd, "", _MOUNT_ATTR_RDONLY, 0, _AT_EMPTY_PATH | (_AT_RECURSIVE if recursive else 0))
    return fd


def image_option_attributes(options: str) -> tuple[int, int]:
    """A partition's mount options -> (attributes set, cleared). Raises ValueError naming an
    option that is not a per-mount flag (file system options cannot be changed after the mount)."""
    attr_set = attr_clr = 0
    for option in filter(None, options.split(",")):
        if option not in IMAGE_OPTIONS:
            raise ValueError(option)
        add, drop = IMAGE_OPTIONS[option]
        attr_set, attr_clr = (attr_set & ~drop) | add, (attr_clr & ~add) | drop
    return attr_set, attr_clr


def _dissect_errno(message: str) -> int:
    for text, number in _DISSECT_ERRORS.items():
        if text in message:
            return number
    for number in range(1, 134):  # "...: <strerror>" as systemd's %m writes it
        if message.rstrip().endswith(": " + os.strerror(number)):
            return number
    return errno.EIO


def _probe(src: str) -> dict[str, str]:
    """What blkid finds in the file (it reads a regular file without a loop device); refuses what
    holds neither a partition table nor a file system. {} without blkid."""
    try:
        found = subprocess.run(["blkid", "-p", "-o", "export", src], stdin=subprocess.DEVNULL,
                               capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return {}
    if found.returncode == 2:  # nothing detected
        raise OSError(errno.ENOPKG, "Couldn't identify a suitable partition table or file system")
    return dict(line.split("=", 1) for line in found.stdout.splitlines() if "=" in line)


def _mount_file_system(src: str, where: str, fstype: str, read_only: bool) -> None:
    """A plain file system image (no partition table): on a loop device of our own, mounted with
    nodev as systemd mounts images."""
    node, device = loopdev.attach(src, read_only)
    try:
        flags = _MS_NODEV | (_MS_RDONLY if read_only else 0)
        # read-only: no journal replay either (it would write), as systemd-dissect mounts them
        data = b"norecovery" if read_only and fstype in ("ext3", "ext4", "xfs") else None
        if _libc.mount(os.fsencode(node), os.fsencode(where), fstype.encode(), ctypes.c_ulong(flags), data) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"Failed to mount image: {os.strerror(err)}")
    finally:
        os.close(device)  # the mount holds the device now; unused, it unbinds itself


def _mount_image(src: str, read_only: bool, options: dict[str, str]) -> int:
    """The image's file systems mounted (in a mount namespace of our own) as one detached tree."""
    if not os.path.exists(src):
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT))
    probe = _probe(src)
    _check(_libc.unshare(_CLONE_NEWNS))
    _check(_libc.mount(None, b"/", None, ctypes.c_ulong(_MS_REC | _MS_PRIVATE), None))
    staging = tempfile.mkdtemp(prefix="sysmaster-image-", dir="/run")
    try:
        if probe.get("USAGE") == "filesystem" and "PTTYPE" not in probe and probe.get("TYPE"):
            _mount_file_system(src, staging, probe["TYPE"], read_only)
        else:  # partition tables (GPT's root, usr, home ... partitions), verity, and the rest
            done = subprocess.run([DISSECT, "--mount", *(["--read-only"] if read_only else []), src, staging],
                                  stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
            if done.returncode != 0:
                sys.stderr.write(done.stderr)
                raise OSError(_dissect_errno(done.stderr), done.stderr.strip())
        try:
            for partition, opts in options.items():
                attr_set, attr_clr = image_option_attributes(opts)
                for point in MOUNT_POINTS.get(partition, ()):
                    if os.path.ismount(os.path.join(staging, point)) or not point:
                        _set_attributes(_AT_FDCWD, os.path.join(staging, point), attr_set, attr_clr, 0)
                        break
            return _clone_tree(staging, read_only, recursive=True)
        finally:
            _libc.umount2(os.fsencode(staging), _MNT_DETACH)
    finally:
        os.rmdir(staging)


def _make_target(dest: str, is_dir: bool) -> None:
    """--mkdir: a directory for a directory, an empty file for anything else, parents included."""
    if is_dir:
        os.makedirs(dest, 0o755, exist_ok=True)
        return
    os.makedirs(os.path.dirname(dest) or "/", 0o755, exist_ok=True)
    os.close(os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644))


def mount_into(pid: int, src: str, dest: str, read_only: bool, mkdir: bool,
               image_options: dict[str, str] | None = None) -> None:
    """Bind ``src``, or mount the image ``src`` when ``image_options`` is given, on ``dest`` in
    the mount namespace of ``pid``."""
    if image_options is None:
        is_dir = stat.S_ISDIR(os.stat(src).st_mode)
        tree = _clone_tree(src, read_only)
    else:
        is_dir, tree = True, _mount_image(src, read_only, image_options)
    ns = os.open(f"/proc/{pid}/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
    setns(ns, 0x00020000)  # CLONE_NEWNS
    os.chdir("/")
    if mkdir:
        _make_target(dest, is_dir)
    elif not os.path.lexists(dest):
        raise FileNotFoundError(2, os.strerror(2))
    _check(_libc.syscall(_SYS_MOVE_MOUNT, tree, b"", _AT_FDCWD, os.fsencode(dest), _MOVE_MOUNT_F_EMPTY_PATH))


def main(argv: list[str]) -> int:
    pid, src, dest, read_only, mkdir, *image = argv
    try:
        mount_into(int(pid), src, dest, read_only == "1", mkdir == "1", json.loads(image[0]) if image else None)
    except OSError as e:
        print(e.errno or 5)
        print(f"{e.filename + ': ' if e.filename else ''}{e.strerror or e}", file=sys.stderr)  # for the manager's log
        return 1
    print(0)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
