"""Effects on /dev: node permissions and devlinks stacked by priority under /run/udev/links."""

import contextlib
import fcntl
import logging
import os
import stat

from sysmasterd.devmaster.device import Device

log = logging.getLogger("devmaster")
DEV = "/dev"


def escape_link(name: str) -> str:
    return name.replace("\\", "\\x5c").replace("/", "\\x2f")


def _stack_dir(link: str, run_dir: str) -> str | None:
    name = os.path.normpath(link)
    if not name.startswith(DEV + "/"):
        return None
    return os.path.join(run_dir, "links", escape_link(name[len(DEV) + 1 :]))


def _make_symlink(dev: Device, target: str, link: str) -> None:
    try:
        st = os.lstat(link)
        if not stat.S_ISLNK(st.st_mode):
            log.debug("%s: Conflicting inode '%s' found, symlink to '%s' will not be created.",
                      dev.sysname, link, target)
            return
    except FileNotFoundError:
        pass
    os.makedirs(os.path.dirname(link), mode=0o755, exist_ok=True)
    rel = os.path.relpath(target, os.path.dirname(link))
    with contextlib.suppress(OSError):
        if os.readlink(link) == rel:
            # udevd replaces it anyway, and says so
            log.debug("%s: Successfully created symlink '%s' to '%s'", dev.sysname, link, target)
            return
    tmp = f"{link}.#devmaster{os.getpid()}"
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)
    os.symlink(rel, tmp)
    os.rename(tmp, link)
    log.debug("%s: Successfully created symlink '%s' to '%s'", dev.sysname, link, target)


def _remove_link(link: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(link)
    parent = os.path.dirname(link)
    while parent.startswith(DEV + "/") and parent != DEV:
        try:
            os.rmdir(parent)
        except OSError:
            break
        parent = os.path.dirname(parent)


def _best_devnode(dirname: str) -> str | None:
    best: tuple[int, str] | None = None
    try:
        entries = sorted(os.listdir(dirname))
    except FileNotFoundError:
        return None
    for entry in entries:
        try:
            prio_text, _, devnode = os.readlink(os.path.join(dirname, entry)).partition(":")
            prio = int(prio_text)
        except (OSError, ValueError):
            continue
        if best is None or prio > best[0]:
            best = (prio, devnode)
    return best[1] if best else None


def link_update(dev: Device, link: str, add: bool, run_dir: str) -> None:
    dirname = _stack_dir(link, run_dir)
    if dirname is None or not dev.devname:
        return
    os.makedirs(dirname, mode=0o755, exist_ok=True)
    lockfd = os.open(dirname, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.flock(lockfd, fcntl.LOCK_EX)
        entry = os.path.join(dirname, dev.device_id)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(entry)
        if add:
            os.symlink(f"{dev.devlink_priority}:{dev.devname}", entry)
        devnode = _best_devnode(dirname)
        if devnode is not None:
            _make_symlink(dev, devnode, link)
        else:
            _remove_link(link)
            with contextlib.suppress(OSError):
                os.rmdir(dirname)
    finally:
        os.close(lockfd)


def _devnum_link(dev: Device) -> str | None:
    devnum = dev.devnum
    if devnum is None:
        return None
    kind = "block" if dev.subsystem == "block" else "char"
    return f"{DEV}/{kind}/{devnum[0]}:{devnum[1]}"


def node_update(dev: Device, old_links: set[str], run_dir: str) -> None:
    for link in sorted(old_links - dev.devlinks):
        link_update(dev, link, False, run_dir)
    for link in sorted(dev.devlinks):
        link_update(dev, link, True, run_dir)
    devnum_link = _devnum_link(dev)
    if devnum_link and dev.devname:
        _make_symlink(dev, dev.devname, devnum_link)


def node_remove(dev: Device, run_dir: str) -> None:
    for link in sorted(dev.devlinks):
        link_update(dev, link, False, run_dir)
    devnum_link = _devnum_link(dev)
    if devnum_link:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(devnum_link)


def apply_permissions(dev: Device, mode: int | None, uid: int | None, gid: int | None) -> None:
    """chmod/chown the node if it is still this device's node (the kernel may have reused the name)."""
    devname, devnum = dev.devname, dev.devnum
    if not devname or devnum is None:
        return
    try:
        st = os.lstat(devname)
    except FileNotFoundError:
        return
    if os.major(st.st_rdev) != devnum[0] or os.minor(st.st_rdev) != devnum[1]:
        log.debug("%s: device node does not match %d:%d, not changing it", devname, *devnum)
        return
    if mode is None and gid:
        mode = 0o660
    apply_mode = mode is not None and stat.S_IMODE(st.st_mode) & 0o777 != mode & 0o777
    want_uid = st.st_uid if uid is None else uid
    want_gid = st.st_gid if gid is None else gid
    apply_owner = (want_uid, want_gid) != (st.st_uid, st.st_gid)
    # udevd reports the permissions on every "add" (it applies security labels then), else on change
    if apply_mode or apply_owner or dev.action == "add":
        shown = (mode if mode is not None else st.st_mode) & 0o777
        log.debug("%s: %s %s, uid=%d, gid=%d, mode=%s", dev.sysname,
                  "Setting permissions" if apply_mode or apply_owner else "Preserve permissions of",
                  devname, want_uid, want_gid, f"0{shown:o}" if shown else "0")
    if apply_mode and mode is not None:
        os.chmod(devname, mode & 0o7777)
    if apply_owner:
        os.chown(devname, want_uid, want_gid, follow_symlinks=False)


def apply_static_node(devnode: str, mode: int | None, uid: int | None, gid: int | None, tags: set[str],
                      run_dir: str) -> None:
    """OPTIONS+="static_node=": permissions and tags for nodes that exist before any uevent."""
    name = devnode.removeprefix(DEV + "/")
    escaped = "".join(f"\\x{ord(c):02x}" if c in "/." else c for c in name)
    for tag in sorted(tags):
        path = os.path.join(run_dir, "static_node-tags", tag, escaped)
        os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            os.symlink(devnode, path)
    try:
        st = os.stat(devnode)
    except OSError:
        return
    if mode is None and gid:
        mode = 0o660
    if mode is not None and stat.S_IMODE(st.st_mode) & 0o777 != mode & 0o777:
        os.chmod(devnode, mode & 0o7777)
    if (uid is not None and uid != st.st_uid) or (gid is not None and gid != st.st_gid):
        os.chown(devnode, st.st_uid if uid is None else uid, st.st_gid if gid is None else gid)
