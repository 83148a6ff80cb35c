"""DynamicUser=: a UID/GID pair from systemd's dynamic range, held while a unit using the name runs,
as systemd 252's dynamic-user.c allocates them.

A name that the user database knows is used as it is (a static user). Otherwise a UID is picked:
first one already owning a suggested path (the unit's StateDirectory= and friends, so they need no
new chown), then one hashed from the name (the same unit usually gets the same UID), then random
ones. A UID is taken by holding a BSD lock on `<lock dir>/<uid>`, a file naming the user, so other
managers sharing the directory see it taken; `direct:<uid>` and `direct:<name>` symlinks let
readers map both ways. The GID is the UID. Released (files removed) when the last holder stops.
"""

from __future__ import annotations

import fcntl
import grp
import os
import pwd
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from compat.model import ExecContext
from sysmasterd.core.siphash import siphash24

UID_MIN, UID_MAX = 61184, 65519
_HASH_KEY = bytes((0x37, 0x53, 0x7E, 0x31, 0xCF, 0xCE, 0x48, 0xF5, 0x8A, 0xBB, 0x39, 0x57, 0x8D, 0xD9, 0xEC, 0x59))
_NAME_KEY = bytes((0x58, 0x1A, 0xAF, 0xE6, 0x28, 0x58, 0x4E, 0x96, 0xB4, 0x4E, 0xF5, 0x3B, 0x8C, 0x92, 0x07, 0xEC))
_VALID_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,30}")
_TRIES = 100


class DynamicUserError(Exception):
    pass


def user_name_for(unit_prefix: str) -> str:
    """The user of a DynamicUser= unit without User=: its name prefix, or a hash of it where the
    prefix is no valid user name (systemd's user_from_unit_name())."""
    if _VALID_NAME.fullmatch(unit_prefix):
        return unit_prefix
    return f"_du{siphash24(_NAME_KEY, unit_prefix.encode()):016x}"


def _clamp(value: int) -> int:
    return (value & 0xFFFFFFFF) % (UID_MAX - UID_MIN + 1) + UID_MIN


def _in_use(uid: int) -> bool:
    for lookup in (pwd.getpwuid, grp.getgrgid):
        try:
            lookup(uid)
            return True
        except KeyError:
            pass
    return False


@dataclass
class _Held:
    uid: int
    gid: int
    lock_fd: int  # -1: a static user, nothing to release
    units: set[str] = field(default_factory=set)


class DynamicUsers:
    def __init__(self, lock_dir: str) -> None:
        self.lock_dir = lock_dir
        self.held: dict[str, _Held] = {}

    def acquire(self, name: str, unit: str, suggested: Sequence[str] = ()) -> tuple[int, int]:
        """The UID and GID of `name` for `unit`, allocated on first use."""
        held = self.held.get(name)
        if held is None:
            held = self._realize(name, suggested)
            self.held[name] = held
        held.units.add(unit)
        return held.uid, held.gid

    def release(self, unit: str) -> list[tuple[int, int]]:
        """Drop `unit`'s holds; the UID/GID pairs nobody holds any more."""
        freed = []
        for name, held in list(self.held.items()):
            if unit not in held.units:
                continue
            held.units.discard(unit)
            if held.units:
                continue
            del self.held[name]
            freed.append((held.uid, held.gid))
            if held.lock_fd >= 0:
                for path in (str(held.uid), f"direct:{held.uid}", f"direct:{name}"):
                    try:
                        os.unlink(os.path.join(self.lock_dir, path))
                    except FileNotFoundError:
                        pass
                os.close(held.lock_fd)
        return freed

    def allocated(self) -> dict[str, int]:
        """Name -> UID of the users allocated here (not the static ones)."""
        return {name: held.uid for name, held in self.held.items() if held.lock_fd >= 0}

    def _realize(self, name: str, suggested: Sequence[str]) -> _Held:
        try:
            pw = pwd.getpwnam(name)
            return _Held(pw.pw_uid, pw.pw_gid, -1)
        except KeyError:
            pass
        os.makedirs(self.lock_dir, mode=0o755, exist_ok=True)
        candidates = [os.stat(p).st_uid for p in suggested if os.path.exists(p)]
        candidates.append(_clamp(siphash24(_HASH_KEY, name.encode())))
        for attempt in range(_TRIES):
            uid = candidates[attempt] if attempt < len(candidates) else _clamp(random.getrandbits(32))
            if not UID_MIN <= uid <= UID_MAX or _in_use(uid):
                continue
            fd = self._lock(uid, name)
            if fd >= 0:
                self._symlinks(uid, name)
                return _Held(uid, uid, fd)
        raise DynamicUserError(f"Failed to allocate a dynamic user for {name}: Device or resource busy")

    def _lock(self, uid: int, name: str) -> int:
        path = os.path.join(self.lock_dir, str(uid))
        fd = os.open(path, os.O_CREAT | os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NOCTTY, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return -1
        if os.fstat(fd).st_nlink == 0:  # unlinked by its releaser between our open and lock
            os.close(fd)
            return -1
        os.ftruncate(fd, 0)
        os.write(fd, name.encode() + b"\n")
        return fd

    def _symlinks(self, uid: int, name: str) -> None:
        for link, target in ((f"direct:{uid}", name), (f"direct:{name}", str(uid))):
            path = os.path.join(self.lock_dir, link)
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            os.symlink(target, path)


# ---------------------------------------------------------------------------------------------
# The directories of a dynamic user (systemd's setup_exec_directory() for DynamicUser=)


def is_private(ctx: ExecContext, kind: str) -> bool:
    """Whether `kind` directories live under <base>/private: all but ConfigurationDirectory= and a
    RuntimeDirectory= removed at stop (those are shared with others)."""
    if not ctx.dynamic_user or kind == "configuration":
        return False
    return not (kind == "runtime" and ctx.runtime_directory_preserve == "no")


def private_directory(base: str, rel: str) -> str:
    """<base>/private/<rel>, with <base>/<rel> a relative symlink to it: users of the host other
    than root cannot look in (private/ is 0700), the unit can (its namespace opens private/).
    A plain directory from before DynamicUser= was turned on is moved in."""
    root = os.path.join(base, "private")
    if not os.path.isdir(root):
        os.makedirs(base, mode=0o755, exist_ok=True)
        os.mkdir(root, 0o700)
    private = os.path.join(root, rel)
    public = os.path.join(base, rel)
    os.makedirs(os.path.dirname(private), mode=0o755, exist_ok=True)
    if os.path.isdir(public) and not os.path.islink(public) and not os.path.lexists(private):
        os.rename(public, private)
    if os.path.realpath(os.path.dirname(public)).startswith(os.path.realpath(root) + "/"):
        return private  # below another private directory of the unit (foo and foo/bar): no link
    target = os.path.relpath(private, os.path.dirname(public))
    if not (os.path.islink(public) and os.readlink(public) == target):
        if os.path.islink(public):
            os.unlink(public)
        os.makedirs(os.path.dirname(public), mode=0o755, exist_ok=True)
        os.symlink(target, public)
    return private


def chown_tree(top: str, uid: int, gid: int) -> None:
    """A directory of a dynamic user may have belonged to an earlier UID: all of it changes owner."""
    if os.stat(top).st_uid == uid and os.stat(top).st_gid == gid:
        return
    for root, dirs, files in os.walk(top):
        for name in dirs + files:
            os.lchown(os.path.join(root, name), uid, gid)
    os.chown(top, uid, gid)
