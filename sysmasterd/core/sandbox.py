"""The namespaces of a sandboxed child (systemd 252's namespace.c, in its own words): PrivateTmp=,
PrivateDevices=, PrivateNetwork=, PrivateIPC=, ProtectHostname=, ProtectSystem=, ProtectHome=,
ProtectKernelTunables/Modules/Logs=, ProtectControlGroups=, ProtectProc=, ProcSubset=, Read{Write,Only}Paths=,
InaccessiblePaths=, (No)ExecPaths=, TemporaryFileSystem=, BindPaths=/BindReadOnlyPaths=.

The child unshares its mount namespace and then works in two passes over the wanted mounts,
sorted by path with one entry per path (systemd's precedence decides duplicates):
1. new content: bind mounts, tmpfs, inaccessible nodes, the private /tmp and /dev; paths that
   only change flags are bound onto themselves so the flags stop at them;
2. flags: each entry's read-only/read-write and exec/noexec change is applied to every mount at
   or below its path, parents first, so a deeper entry (a ReadWritePaths= below ProtectSystem=strict)
   wins for its subtree; with NoNewPrivileges= every entry's subtree becomes nosuid as well.

The parent prepares what must outlive one process (`prepare_private_tmp`): the per-unit /tmp
and /var/tmp directories, named as systemd names them, shared by JoinsNamespaceOf= units.
mount(2), umount2(2) and unshare(2) through ctypes: Python 3.11's os module has none of them.
"""

from __future__ import annotations

import ctypes
import dataclasses
import errno
import fcntl
import glob
import os
import socket
import struct
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field

from compat.model import ExecContext
from sysmasterd.core import procfs_options, shared_ns

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWNET = 0x40000000

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_RELATIME = 1 << 21
MS_STRICTATIME = 1 << 24
MNT_DETACH = 2
_KEPT_FLAGS = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME | MS_RELATIME

# Modes in systemd's precedence: for two entries on one path the earlier mode wins.
(INACCESSIBLE, BIND, PRIVATE_TMP, PRIVATE_DEV, BIND_DEV, SYSFS, PROCFS, READONLY, READWRITE, NOEXEC, EXEC, TMPFS,
 RUN, MQUEUEFS, READWRITE_IMPLICIT) = range(15)


class SandboxError(Exception):
    def __init__(self, message: str, network: bool = False) -> None:
        super().__init__(message)
        self.network = network


@dataclass(frozen=True)
class Entry:
    path: str
    mode: int
    optional: bool = False
    source: str = ""  # BIND, PRIVATE_TMP
    read_only: bool = False  # BIND, TMPFS
    options: str = ""  # TMPFS, PROCFS
    recursive: bool = True  # BIND


@dataclass
class SandboxPaths:
    """What the parent prepared: the private /tmp and /var/tmp parents, a directory the child may
    mount on for staging, and paths that stay writable (RuntimeDirectory= and friends).
    DynamicUser='s directories live in `private_roots` (<base>/private, 0700 root): the unit sees
    each root as an empty tmpfs holding only its own `private_dirs`, bound from the host's."""

    tmp_dir: str | None = None
    var_tmp_dir: str | None = None
    staging: str | None = None
    writable: list[str] = field(default_factory=list)
    private_roots: list[str] = field(default_factory=list)
    private_dirs: list[str] = field(default_factory=list)
    namespaces: dict[str, shared_ns.Pair] = field(default_factory=dict)  # "net"/"ipc": the unit's store
    # Writes the credentials directory (core/credentials.py): run by the child, as systemd's
    # exec_child() does, so that decrypting (systemd-creds, up to 30 s) never holds the manager.
    credentials: Callable[[], object] | None = None


_libc: ctypes.CDLL | None = None


def _lib() -> ctypes.CDLL:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
        _libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
    return _libc


def _check(r: int, what: str) -> None:
    if r < 0:
        e = ctypes.get_errno()
        raise OSError(e, f"{what}: {os.strerror(e)}")


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    _check(_lib().mount(_enc(source), target.encode(), _enc(fstype), flags, _enc(data)), f"mount {target}")


def _enc(text: str | None) -> bytes | None:
    return text.encode() if text is not None else None


def umount(target: str, flags: int = 0) -> None:
    _check(_lib().umount2(target.encode(), flags), f"umount {target}")


def unshare(flags: int) -> None:
    _check(_lib().unshare(flags), "unshare")


def needs_mount_namespace(ctx: ExecContext) -> bool:
    return bool(
        ctx.private_tmp or ctx.private_devices or ctx.private_mounts or ctx.protect_system != "no"
        or ctx.protect_home != "no" or ctx.protect_kernel_tunables or ctx.protect_kernel_modules
        or ctx.protect_kernel_logs or ctx.protect_control_groups or ctx.read_write_paths or ctx.read_only_paths
        or ctx.inaccessible_paths or ctx.exec_paths or ctx.no_exec_paths or ctx.tmpfs_mounts or ctx.bind_mounts
        or _restricts_proc(ctx) or ctx.private_ipc or bool(ctx.ipc_namespace_path)
        or (ctx.root_directory is not None and mount_apivfs(ctx))
    )


def mount_apivfs(ctx: ExecContext) -> bool:
    """MountAPIVFS= as in effect: as set, else yes with RootDirectory=."""
    return ctx.mount_apivfs if ctx.mount_apivfs is not None else ctx.root_directory is not None


def _restricts_proc(ctx: ExecContext) -> bool:
    return ctx.protect_proc != "default" or ctx.proc_subset != "all"


def _proc_options(ctx: ExecContext) -> str:
    """The wanted options of the fresh /proc; whether the kernel takes them is asked at mount time."""
    if not _restricts_proc(ctx):
        return ""
    hidepid = "off" if ctx.protect_proc == "default" else ctx.protect_proc
    return f"hidepid={hidepid}" + (",subset=pid" if ctx.proc_subset == "pid" else "")


# ---------------------------------------------------------------------------------------------
# The parent's part


def boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip().replace("-", "")
    except OSError:
        return "0" * 32


def prepare_private_tmp(unit: str) -> tuple[str, str]:
    """/tmp/systemd-private-<boot id>-<unit>-XXXXXX and the same under /var/tmp, each holding the
    `tmp` directory (1777) the unit sees; an existing pair (a restarted core) is reused."""
    out = []
    for base in ("/tmp", "/var/tmp"):
        prefix = f"systemd-private-{boot_id()}-{unit}-"
        found = sorted(glob.glob(os.path.join(glob.escape(base), glob.escape(prefix) + "*")))
        top = found[0] if found else tempfile.mkdtemp(prefix=prefix, dir=base)
        inner = os.path.join(top, "tmp")
        if not os.path.isdir(inner):
            os.mkdir(inner)
            os.chmod(inner, 0o1777)
        out.append(top)
    return out[0], out[1]


def remove_private_tmp(dirs: tuple[str, str]) -> None:
    import shutil

    for d in dirs:
        shutil.rmtree(d, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# The child's part


def entries(ctx: ExecContext, paths: SandboxPaths) -> list[Entry]:
    """The mounts the settings ask for, one per path, sorted parents first."""
    out: list[Entry] = []
    # With subset=pid the /proc paths below are gone, which protects them too; the option may have
    # been refused, though, so they are still tried, as optional.
    subset_pid = ctx.proc_subset == "pid"

    def listed(items: list[str], mode: int) -> None:
        for item in items:
            optional = "-" in item[:2]
            out.append(Entry(item.lstrip("-+"), mode, optional))

    listed(ctx.read_write_paths, READWRITE)
    listed(ctx.read_only_paths, READONLY)
    listed(ctx.inaccessible_paths, INACCESSIBLE)
    listed(ctx.exec_paths, EXEC)
    listed(ctx.no_exec_paths, NOEXEC)
    # RuntimeDirectory= and friends live on the host: in a root directory they are bound in.
    out += [Entry(p, BIND, source=p) if ctx.root_directory else Entry(p, READWRITE_IMPLICIT) for p in paths.writable]
    out += [Entry(p, TMPFS, read_only=True, options="mode=0755,nosuid,nodev,noexec") for p in paths.private_roots]
    out += [Entry(p, BIND, source=p) for p in paths.private_dirs]
    for b in ctx.bind_mounts:
        out.append(Entry(b.destination, BIND, b.optional, b.source, b.read_only, recursive=b.recursive))
    for t in ctx.tmpfs_mounts:
        opts = [o for o in t.options.split(",") if o]
        ro = "ro" in opts
        out.append(Entry(t.path, TMPFS, read_only=ro, options=",".join(o for o in opts if o not in ("ro", "rw"))))
    if ctx.private_tmp and paths.tmp_dir and paths.var_tmp_dir:
        out.append(Entry("/tmp", PRIVATE_TMP, source=os.path.join(paths.tmp_dir, "tmp")))
        out.append(Entry("/var/tmp", PRIVATE_TMP, source=os.path.join(paths.var_tmp_dir, "tmp")))
    if ctx.private_devices:
        out.append(Entry("/dev", PRIVATE_DEV))
    if ctx.private_ipc or ctx.ipc_namespace_path:  # that IPC namespace's message queues, not the host's
        out.append(Entry("/dev/mqueue", MQUEUEFS))
    if mount_apivfs(ctx) or _restricts_proc(ctx) or ctx.protect_kernel_tunables or ctx.protect_control_groups:
        # MountAPIVFS= (these imply it): a fresh /proc, and /dev, /sys (the host's, bound) and /run
        # (a tmpfs) unless already mount points, all in RootDirectory=; outside one the last three
        # always are mount points.
        out.append(Entry("/proc", PROCFS, options=_proc_options(ctx)))
        if ctx.root_directory:
            out += [Entry("/dev", BIND_DEV, source="/dev"), Entry("/sys", SYSFS, source="/sys"),
                    Entry("/run", RUN, options="mode=755,size=20%,nr_inodes=800k")]
    if ctx.protect_kernel_tunables:
        out += [Entry(p, READONLY, True) for p in (
            "/proc/acpi", "/proc/apm", "/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/latency_stats",
            "/proc/mtrr", "/proc/scsi", "/proc/sys", "/proc/sysrq-trigger", "/proc/timer_stats", "/sys/fs/bpf",
            "/sys/kernel/debug", "/sys/kernel/tracing")]
        out += [Entry("/proc/kallsyms", INACCESSIBLE, True), Entry("/proc/kcore", INACCESSIBLE, True),
                Entry("/sys", READONLY), Entry("/sys/fs/cgroup", READWRITE_IMPLICIT),
                Entry("/sys/fs/selinux", READWRITE_IMPLICIT, True)]
    if ctx.protect_control_groups:
        out.append(Entry("/sys/fs/cgroup", READONLY))
    if ctx.protect_hostname:  # only when another setting makes a mount namespace, as in systemd
        out += [Entry(p, READONLY, subset_pid) for p in ("/proc/sys/kernel/hostname", "/proc/sys/kernel/domainname")]
    if ctx.protect_kernel_modules:
        out += [Entry("/lib/modules", INACCESSIBLE, True), Entry("/usr/lib/modules", INACCESSIBLE, True)]
    if ctx.protect_kernel_logs:
        out += [Entry("/proc/kmsg", INACCESSIBLE, True), Entry("/dev/kmsg", INACCESSIBLE, True)]
    home_dirs = ("/home", "/run/user", "/root")
    if ctx.protect_home == "yes":
        out += [Entry(p, INACCESSIBLE, True) for p in home_dirs]
    elif ctx.protect_home == "read-only":
        out += [Entry(p, READONLY, True) for p in home_dirs]
    elif ctx.protect_home == "tmpfs":
        out += [Entry(p, TMPFS, True, read_only=True, options="mode=0700" if p == "/root" else "mode=0755")
                for p in home_dirs]
    if ctx.protect_system in ("yes", "full"):
        out += [Entry("/usr", READONLY)] + [Entry(p, READONLY, True) for p in (
            "/boot", "/efi", "/lib", "/lib64", "/bin", "/sbin")]
        if ctx.protect_system == "full":
            out.append(Entry("/etc", READONLY))
    elif ctx.protect_system == "strict":
        out += [Entry("/", READONLY), Entry("/proc", READWRITE_IMPLICIT), Entry("/sys", READWRITE_IMPLICIT),
                Entry("/dev", READWRITE_IMPLICIT)]
        out += [Entry(p, READWRITE_IMPLICIT, True) for p in home_dirs]
    best: dict[str, Entry] = {}
    for e in out:
        path = os.path.normpath(e.path) if e.path != "/" else "/"
        e = Entry(path, e.mode, e.optional, e.source, e.read_only, e.options, e.recursive)
        if path not in best or e.mode < best[path].mode:
            best[path] = e
    return [best[p] for p in sorted(best, key=lambda p: (p.count("/") if p != "/" else 0, p))]


def apply_mount_namespace(ctx: ExecContext, paths: SandboxPaths, sandboxing: bool) -> None:
    """Unshare the mount namespace and build the unit's view. Without `sandboxing` (a "+"
    command) only BindPaths= and TemporaryFileSystem= apply, as in systemd. With RootDirectory=
    the view is built inside the root (the entries' paths are the unit's, sources the host's),
    which then becomes / (systemd's mount_move_root())."""
    unshare(CLONE_NEWNS)
    mount(None, "/", None, MS_SLAVE | MS_REC)
    root = os.path.normpath(ctx.root_directory) if ctx.root_directory else ""
    if root == "/":
        root = ""
    if root:
        mount(root, root, None, MS_BIND | MS_REC)  # a mount of its own, to be moved onto / at the end
    wanted = _resolved(entries(ctx, paths), root)
    if not sandboxing:
        wanted = [e for e in wanted if e.mode in (BIND, TMPFS)]
    held = _hold_covered_sources(wanted)
    try:
        done = _make_all(wanted, paths)
    finally:
        for fd in held:
            os.close(fd)
    mounts = _mount_points()  # remounting changes flags only: one reading serves the passes
    for e in done:
        change = _flag_change(e)
        if change is not None:
            _remount_tree(e.path, *change, mounts)
    if sandboxing and ctx.no_new_privileges:
        # Nothing set-uid could work anyway; systemd's fourth pass makes it plain on each entry.
        for e in done:
            _remount_tree(e.path, MS_NOSUID, 0, mounts)
    if root:
        os.chdir(root)
        mount(root, "/", None, MS_MOVE)
        os.chroot(".")
        os.chdir("/")
    mount(None, "/", None, MS_SHARED | MS_REC)


def _hold_covered_sources(wanted: list[Entry]) -> list[int]:
    """Bind sources below a tmpfs of the same namespace (DynamicUser='s private dirs) would be
    hidden once the tmpfs is mounted: they are opened first and bound through /proc/self/fd, so
    they come from the host's view, as systemd's staged root gives them."""
    covered = [e.path.rstrip("/") + "/" for e in wanted if e.mode == TMPFS]
    held: list[int] = []
    for i, e in enumerate(wanted):
        if e.mode == BIND and any(e.source.startswith(c) for c in covered) and _exists(e.source):
            fd = os.open(e.source, os.O_PATH | os.O_CLOEXEC)
            held.append(fd)
            wanted[i] = dataclasses.replace(e, source=f"/proc/self/fd/{fd}")
    return held


def _make_all(wanted: list[Entry], paths: SandboxPaths) -> list[Entry]:
    done: list[Entry] = []
    for e in wanted:
        try:
            made = _make_content(e, paths)
        except FileNotFoundError:
            # Gone between the check and the mount, or over-mounted by a container manager (nspawn
            # covers /proc/kmsg): for an optional path that is "missing", as systemd takes ENOENT.
            if not e.optional:
                raise
            made = False
        if made:
            done.append(e)
    return done


def chase(root: str, path: str) -> str:
    """``path`` as seen from the root directory ``root`` ("" for the host's): symlinks, absolute
    ones included, resolved inside it (systemd's chase_symlinks() with CHASE_PREFIX_ROOT); a part
    that does not exist ends the resolution. Returns the host's path."""
    if not root:
        return os.path.realpath(path) if os.path.lexists(path) else path
    todo = [p for p in path.split("/") if p]
    done = root
    hops = 0
    while todo:
        part = todo.pop(0)
        if part == ".":
            continue
        if part == "..":
            if done != root:
                done = os.path.dirname(done)
            continue
        candidate = os.path.join(done, part)
        if hops < 40 and os.path.islink(candidate):
            hops += 1
            target = os.readlink(candidate)
            if target.startswith("/"):
                done = root
            todo = [p for p in target.split("/") if p] + todo
            continue
        if not os.path.lexists(candidate):
            return os.path.join(candidate, *todo)
        done = candidate
    return done


def _resolved(wanted: list[Entry], root: str = "") -> list[Entry]:
    """Entries on their symlinks' targets (the kernel mounts there; mountinfo shows those) and,
    with a root directory, inside it; in path order again; where a link and its target were both
    listed, precedence picks again."""
    best: dict[str, Entry] = {}
    for e in wanted:
        if root or os.path.lexists(e.path):
            e = dataclasses.replace(e, path=chase(root, e.path))
        if e.path not in best or e.mode < best[e.path].mode:
            best[e.path] = e
    return sorted(best.values(), key=lambda e: (e.path.count("/") if e.path != "/" else 0, e.path))


def _exists(path: str) -> bool:
    return os.path.lexists(path)


def _is_mount_point(path: str) -> bool:
    return path in _mount_points()


def _mount_points() -> list[str]:
    out = []
    with open("/proc/self/mountinfo", "rb") as f:
        for line in f:
            raw = line.split()[4].decode("utf-8", "surrogateescape")
            out.append(raw.encode("latin-1", "surrogateescape").decode("unicode_escape")
                       if "\\" in raw else raw)
    return out


def _make_content(e: Entry, paths: SandboxPaths) -> bool:
    """Pass 1 for one entry; False when an optional path is missing."""
    if e.mode in (BIND, PRIVATE_TMP):
        if not _exists(e.source):
            if e.optional:
                return False
            raise SandboxError(f"Failed to mount {e.source} to {e.path}: No such file or directory")
        if not _exists(e.path):
            _make_mount_point(e.path, os.path.isdir(e.source))
        mount(e.source, e.path, None, MS_BIND | (MS_REC if e.recursive else 0))
        return True
    if e.mode == TMPFS:
        if not _exists(e.path):
            if e.optional:
                return False
            _make_mount_point(e.path, True)
        opts = e.options.split(",") if e.options else []
        flags = MS_NODEV | MS_STRICTATIME
        for name, bit in (("nosuid", MS_NOSUID), ("noexec", MS_NOEXEC), ("nodev", MS_NODEV),
                          ("strictatime", MS_STRICTATIME)):
            if name in opts:
                flags |= bit
                opts.remove(name)
        for name, bit in (("suid", MS_NOSUID), ("exec", MS_NOEXEC), ("dev", MS_NODEV),
                          ("nostrictatime", MS_STRICTATIME)):
            if name in opts:
                flags &= ~bit
                opts.remove(name)
        if not any(o.startswith("mode=") for o in opts):
            opts.insert(0, "mode=0755")
        mount("tmpfs", e.path, "tmpfs", flags, ",".join(opts))
        return True
    if e.mode == PROCFS:
        _mount_procfs(e.path, e.options)
        return True
    if e.mode == MQUEUEFS:  # its directory is made, as in a private /dev, where there is none
        _mount_mqueue(e.path)
        return True
    if e.mode in (BIND_DEV, SYSFS, RUN):  # API file systems of a root directory, if not there yet
        os.makedirs(e.path, mode=0o755, exist_ok=True)
        if _is_mount_point(e.path):
            return False
        if e.mode == RUN:
            mount("tmpfs", e.path, "tmpfs", MS_NOSUID | MS_NODEV | MS_STRICTATIME, e.options)
        else:
            mount(e.source, e.path, None, MS_BIND | MS_REC)
        return True
    if not _exists(e.path):
        if e.optional:
            return False
        raise SandboxError(f"Failed to mount {e.path}: No such file or directory")
    if e.mode == INACCESSIBLE:
        if os.path.isdir(e.path) and not os.path.islink(e.path):
            mount("tmpfs", e.path, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=000,size=4k")
        else:
            mount(_inaccessible_file(paths), e.path, None, MS_BIND)
        return True
    if e.mode == PRIVATE_DEV:
        _private_dev(paths, e.path)
        return True
    if not _is_mount_point(e.path):
        mount(e.path, e.path, None, MS_BIND | MS_REC)
    return True


def _make_mount_point(path: str, directory: bool) -> None:
    os.makedirs(path if directory else os.path.dirname(path), mode=0o755, exist_ok=True)
    if not directory and not _exists(path):
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o644))


def _inaccessible_file(paths: SandboxPaths) -> str:
    base = paths.staging or "/run/systemd"
    path = os.path.join(base, "inaccessible-reg")
    if not os.path.exists(path):
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0))
        os.chmod(path, 0)
    return path


def _flag_change(e: Entry) -> tuple[int, int] | None:
    """(flags to set, flags to clear) for the subtree of an entry."""
    if e.mode in (READONLY, INACCESSIBLE) or (e.mode in (BIND, TMPFS) and e.read_only):
        return MS_RDONLY, 0
    if e.mode in (READWRITE, READWRITE_IMPLICIT, PRIVATE_TMP, PRIVATE_DEV, BIND_DEV, SYSFS, PROCFS, RUN, MQUEUEFS,
                  BIND, TMPFS):
        return 0, MS_RDONLY
    if e.mode == NOEXEC:
        return MS_NOEXEC, 0
    if e.mode == EXEC:
        return 0, MS_NOEXEC
    return None


def _remount_tree(top: str, set_flags: int, clear_flags: int, mounts: list[str]) -> None:
    prefix = top.rstrip("/") + "/"
    for mp in mounts:
        if mp != top and not mp.startswith(prefix) and top != "/":
            continue
        try:
            current = os.statvfs(mp).f_flag & _KEPT_FLAGS
            new = (current | set_flags) & ~clear_flags
            if new != current:
                mount(None, mp, None, MS_REMOUNT | MS_BIND | new)
        except OSError as e:
            if mp == top:
                raise SandboxError(f"Failed to re-mount {top}: {e.strerror}") from e


def _umount_below(path: str) -> int:
    """Detach every mount at and below `path`, deepest first (umount_recursive()); how many went."""
    unmounted = 0
    prefix = path.rstrip("/") + "/"
    for mp in reversed(_mount_points()):
        if mp == path or mp.startswith(prefix):
            try:
                umount(mp, MNT_DETACH)
                unmounted += 1
            except OSError:
                pass
    return unmounted


def _mount_procfs(path: str, wanted: str) -> None:
    """A new procfs instance with per-mount hidepid=/subset= (kernel 5.8 and later), as systemd's
    mount_procfs(): each option only when the kernel says it takes it (procfs_options.py), and
    whatever was mounted at and below /proc goes first. A kernel that still rejects the textual
    options (EINVAL) has no per-instance hidepid=, so the options would reach the host's /proc:
    then an unrestricted instance is mounted instead. Without the right to mount procfs (EPERM)
    the existing /proc stays, unless it was already unmounted; where there is none (a root
    directory's), ours is bound there."""
    options = procfs_options.supported(wanted)
    os.makedirs(path, mode=0o755, exist_ok=True)  # in a RootDirectory= that has no /proc
    unmounted = _umount_below(path)
    flags = MS_NOSUID | MS_NOEXEC | MS_NODEV
    try:
        mount("proc", path, "proc", flags, options or None)
    except OSError as e:
        if e.errno == errno.EINVAL and options:
            mount("proc", path, "proc", flags)
        elif e.errno != errno.EPERM or unmounted:
            raise
        elif not _is_mount_point(path):  # a root directory's /proc: the one we see, then
            mount("/proc", path, None, MS_BIND | MS_REC)


def _mount_mqueue(path: str) -> None:
    """A fresh mqueue instance (it shows the mounter's IPC namespace), over whatever was there."""
    os.makedirs(path, mode=0o755, exist_ok=True)
    _umount_below(path)
    mount("mqueue", path, "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RELATIME)


def _private_dev(paths: SandboxPaths, where: str) -> None:
    """A fresh /dev with the harmless nodes, a private devpts and shm: built on a staging mount
    and moved onto ``where`` (/dev, in a root directory or not) in one step."""
    staging = tempfile.mkdtemp(prefix="namespace-dev-", dir=paths.staging or "/tmp")
    mount("tmpfs", staging, "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=0755,size=4m")
    for name, major, minor in (("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8),
                               ("urandom", 1, 9), ("tty", 5, 0)):
        node = os.path.join(staging, name)
        os.mknod(node, 0o666 | 0o020000, os.makedev(major, minor))
        os.chmod(node, 0o666)
    os.mkdir(os.path.join(staging, "pts"), 0o755)
    mount("devpts", os.path.join(staging, "pts"), "devpts", MS_NOSUID | MS_NOEXEC,
          "newinstance,ptmxmode=0666,mode=620,gid=5")
    os.symlink("pts/ptmx", os.path.join(staging, "ptmx"))
    os.mkdir(os.path.join(staging, "shm"), 0o1777)
    mount("tmpfs", os.path.join(staging, "shm"), "tmpfs", MS_NOSUID | MS_NODEV | MS_STRICTATIME, "mode=1777")
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                         ("stderr", "/proc/self/fd/2"), ("log", "/run/systemd/journal/dev-log")):
        os.symlink(target, os.path.join(staging, name))
    mount(staging, where, None, MS_MOVE)
    os.rmdir(staging)


# ---------------------------------------------------------------------------------------------
# Other namespaces


def private_network() -> None:
    """A new network namespace with its loopback up (what systemd's loopback_setup() does)."""
    unshare(CLONE_NEWNET)
    IFF_UP, IFF_RUNNING, SIOCGIFFLAGS, SIOCSIFFLAGS = 0x1, 0x40, 0x8913, 0x8914
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        req = struct.pack("16sh14x", b"lo", 0)
        flags = struct.unpack("16sh14x", fcntl.ioctl(s, SIOCGIFFLAGS, req))[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sh14x", b"lo", flags | IFF_UP | IFF_RUNNING))


def _shared(kind: str, paths: SandboxPaths, create: Callable[[], None], path: str) -> None:
    """The unit's namespace of this kind (shared_ns.py): the one at ``path`` (Network/
    IPCNamespacePath=) unless the unit's store has one already, else made by its first process;
    without a store from the manager, one of this process's own."""
    pair = paths.namespaces.get(kind)
    if path:
        what = "network" if kind == "net" else "IPC"
        try:
            if pair is None:
                shared_ns.join_path(path, kind)
                return
            shared_ns.store_path(pair, kind, path)
        except OSError as e:
            raise SandboxError(f"Failed to open {what} namespace path {path}: {e.strerror}",
                               network=kind == "net") from e
    if pair is None:
        create()
    else:
        shared_ns.enter(pair, kind, create)


def enter(ctx: ExecContext, paths: SandboxPaths, sandboxing: bool) -> None:
    """All namespaces of the child, in exec_child()'s order: network, IPC, mounts, hostname."""
    if sandboxing and (ctx.private_network or ctx.network_namespace_path):
        try:
            _shared("net", paths, private_network, ctx.network_namespace_path)
        except OSError as e:
            raise SandboxError(f"Failed to set up network namespacing: {e}", network=True) from e
    try:
        if sandboxing and (ctx.private_ipc or ctx.ipc_namespace_path):
            _shared("ipc", paths, lambda: unshare(CLONE_NEWIPC), ctx.ipc_namespace_path)
        if needs_mount_namespace(ctx):
            apply_mount_namespace(ctx, paths, sandboxing)
        if sandboxing and ctx.protect_hostname:
            unshare(CLONE_NEWUTS)
    except OSError as e:
        raise SandboxError(f"Failed to set up mount namespacing: {e}") from e
