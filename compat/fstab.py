"""fstab-style mount options and mount point facts, as systemd 252 reads them (fstab-util.c,
mount-setup.c, mountpoint-util.c): pure string work shared by mount and swap units."""

from __future__ import annotations

from collections.abc import Iterable

# systemd's @network file system set plus the ones it knows outside it (fstype_is_network).
_NETWORK_FSTYPES = frozenset({
    "afs", "ceph", "cifs", "gfs", "gfs2", "ncp", "ncpfs", "nfs", "nfs4", "ocfs2", "orangefs", "pvfs2", "smb3",
    "smbfs", "davfs", "glusterfs", "lustre", "sshfs",
})  # fmt: skip

# Mount points the manager sets up itself (mount-setup.c's table): never units.
_API_MOUNT_POINTS = frozenset({
    "/proc", "/sys", "/dev", "/sys/kernel/security", "/sys/fs/smackfs", "/dev/shm", "/dev/pts", "/run",
    "/sys/fs/cgroup", "/sys/fs/cgroup/unified", "/sys/fs/cgroup/systemd", "/sys/fs/pstore",
    "/sys/firmware/efi/efivars", "/sys/fs/bpf",
})  # fmt: skip
# API file systems other software may mount, and container bind mounts (mount_point_ignore).
_IGNORED_MOUNT_POINTS = frozenset({
    "/sys/fs/selinux", "/dev/console", "/proc/kmsg", "/proc/sys", "/proc/sys/kernel/random/boot_id",
})  # fmt: skip


def path_startswith(path: str, prefix: str) -> bool:
    """Whether ``path`` is ``prefix`` or below it, by whole components."""
    prefix = prefix.rstrip("/")
    return path == prefix or path.startswith(prefix + "/") or prefix == ""


def split_options(options: str | None) -> list[str]:
    """Comma-separated options; a backslash escapes the next character (fstab_filter_options)."""
    if not options:
        return []
    out: list[str] = []
    word: list[str] = []
    escaped = False
    for c in options:
        if escaped:
            word.append(c)
            escaped = False
        elif c == "\\":
            word.append(c)
            escaped = True
        elif c == ",":
            out.append("".join(word))
            word = []
        else:
            word.append(c)
    out.append("".join(word))
    return out


def option_values(options: str | None, name: str) -> list[str]:
    """Values of every ``name=value`` option, in order (x-systemd.requires= may repeat)."""
    prefix = name + "="
    return [o[len(prefix):] for o in split_options(options) if o.startswith(prefix)]


def test_option(options: str | None, names: Iterable[str]) -> bool:
    """Whether any of the options is present, bare or with a value (fstab_test_option)."""
    wanted = set(names)
    return any(o.split("=", 1)[0] in wanted for o in split_options(options))


def test_yes_no_option(options: str | None, yes: str, no: str) -> bool:
    """The last of ``yes``/``no`` wins; neither: no (fstab_test_yes_no_option)."""
    result = False
    for o in split_options(options):
        if o == yes:
            result = True
        elif o == no:
            result = False
    return result


def filter_options(options: str | None, drop: Iterable[str]) -> str:
    """The options without those named (bare or with a value), joined again."""
    dropped = set(drop)
    return ",".join(o for o in split_options(options) if o.split("=", 1)[0] not in dropped)


def fstype_is_network(fstype: str | None) -> bool:
    if not fstype:
        return False
    return fstype.removeprefix("fuse.") in _NETWORK_FSTYPES


def is_network(options: str | None, fstype: str | None) -> bool:
    """A network file system: _netdev, or a network type (mount_is_network)."""
    return test_option(options, ("_netdev",)) or fstype_is_network(fstype)


def is_bind(options: str | None, fstype: str | None) -> bool:
    return test_option(options, ("bind", "rbind")) or fstype in ("bind", "rbind")


def is_loop(options: str | None) -> bool:
    return test_option(options, ("loop",))


def is_extrinsic(where: str, options: str | None, in_initrd: bool = False) -> bool:
    """Mounts the system manager leaves to others: the OS itself, API file systems, initrd mounts
    outside the initrd (fstab_is_extrinsic)."""
    if where in ("/", "/usr", "/etc"):
        return True
    if any(path_startswith(where, p) for p in ("/run/initramfs", "/proc", "/sys", "/dev")):
        return True
    return test_option(options, ("x-initrd.mount",)) and not in_initrd


def mount_point_is_api(where: str) -> bool:
    return where in _API_MOUNT_POINTS or where.startswith("/sys/fs/cgroup/")


def mount_point_ignore(where: str) -> bool:
    return where in _IGNORED_MOUNT_POINTS or path_startswith(where, "/run/host")


def is_device_path(what: str) -> bool:
    return what.startswith("/dev/") or what.startswith("/sys/")


def path_prefixes(path: str) -> list[str]:
    """``/a/b/c`` -> ``/``, ``/a``, ``/a/b``, ``/a/b/c`` (PATH_FOREACH_PREFIX_MORE, shortest first)."""
    parts = [p for p in path.split("/") if p]
    return ["/"] + ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]
