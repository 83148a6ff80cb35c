"""PrivateUsers=: the child moves into a new user namespace in which only the manager's own IDs and
the unit's user and group are mapped (to themselves); every other ID shows as the overflow ID,
nobody. As systemd 252's setup_private_users().

Writing a map with more than the creator's own ID needs CAP_SETUID/CAP_SETGID in the parent
namespace, which the child gives up by unsharing; so a helper forked first, still outside, writes
the maps once the child has unshared. setgroups() is denied inside for good (the kernel requires
that before an unprivileged gid_map, and it keeps the unit from dropping groups it was given).
"""

from __future__ import annotations

import os

from sysmasterd.core import capabilities
from sysmasterd.core.sandbox import unshare

CLONE_NEWUSER = 0x10000000
CAP_SETGID = 6
CAP_SETUID = 7


def id_map(own: int, wanted: int | None, privileged: bool) -> str:
    """The uid_map/gid_map text: the manager's ID, and the unit's when it differs (privileged only)."""
    if privileged and wanted is not None and wanted != own:
        return f"{own} {own} 1\n{wanted} {wanted} 1\n"
    return f"{own} {own} 1\n"


def setgroups_denied() -> bool:
    """Inside a namespace set up here, setgroups() fails: group changes are skipped, as systemd's
    maybe_setgroups() skips them."""
    try:
        with open("/proc/self/setgroups") as f:
            return f.read().strip() == "deny"
    except OSError:
        return False


def setup_private_users(uid: int | None, gid: int | None) -> None:
    uid_map = id_map(os.getuid(), uid, capabilities.have_effective(CAP_SETUID))
    gid_map = id_map(os.getgid(), gid, capabilities.have_effective(CAP_SETGID))
    ready_r, ready_w = os.pipe()
    err_r, err_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the helper, in the original namespace
        code = 0
        try:
            os.close(ready_w)
            os.close(err_r)
            os.read(ready_r, 1)
            parent = os.getppid()
            _write(f"/proc/{parent}/setgroups", "deny\n", missing_ok=True)
            _write(f"/proc/{parent}/gid_map", gid_map)
            _write(f"/proc/{parent}/uid_map", uid_map)
        except OSError as e:
            os.write(err_w, str(e.errno or 1).encode())
            code = 1
        os._exit(code)
    os.close(ready_r)
    os.close(err_w)
    try:
        try:
            unshare(CLONE_NEWUSER)
        finally:
            os.write(ready_w, b"1")  # also on failure: the helper must not wait forever
            os.close(ready_w)
        report = os.read(err_r, 16)
    finally:
        os.close(err_r)
        os.waitpid(pid, 0)
    if report:
        number = int(report)
        raise OSError(number, os.strerror(number))


def _write(path: str, text: str, missing_ok: bool = False) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        if missing_ok:
            return
        raise
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)
