"""Capabilities of a spawned child: the bounding set, ambient capabilities across a user change,
secure bits (systemd 252's capability-util.c steps, in exec_child()'s order).

ctypes over libc's capget/capset/prctl: Python's os module has none of them, and the child needs
nothing else. Called only in the forked child, between fork and exec.
"""

from __future__ import annotations

import ctypes
import os

from compat.capnames import CAPABILITIES
from compat.model import ExecContext
from compat.sandbox_implied import bounding_set

PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_GET_SECUREBITS = 27
PR_SET_SECUREBITS = 28
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_LOWER = 3
SECURE_KEEP_CAPS = 4
CAP_SETPCAP = 8
CAP_SYS_ADMIN = 21
_VERSION_3 = 0x20080522


class _Header(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _Data(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


_libc: ctypes.CDLL | None = None


def _lib() -> ctypes.CDLL:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
        _libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    return _libc


def prctl(option: int, arg2: int = 0, arg3: int = 0) -> int:
    r: int = _lib().prctl(option, arg2, arg3, 0, 0)
    if r < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return r


def last_cap() -> int:
    """The highest capability the kernel knows (what PR_CAPBSET_READ accepts)."""
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            return int(f.read())
    except (OSError, ValueError):
        return len(CAPABILITIES) - 1


def get_sets() -> tuple[int, int, int]:
    """(effective, permitted, inheritable) of this process."""
    hdr = _Header(_VERSION_3, 0)
    data = (_Data * 2)()
    if _lib().capget(ctypes.byref(hdr), data) < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    eff, perm, inh = (getattr(data[0], f) | getattr(data[1], f) << 32
                      for f in ("effective", "permitted", "inheritable"))
    return eff, perm, inh


def set_sets(effective: int, permitted: int, inheritable: int) -> None:
    hdr = _Header(_VERSION_3, 0)
    data = (_Data * 2)()
    for i in (0, 1):
        data[i].effective = effective >> 32 * i & 0xFFFFFFFF
        data[i].permitted = permitted >> 32 * i & 0xFFFFFFFF
        data[i].inheritable = inheritable >> 32 * i & 0xFFFFFFFF
    if _lib().capset(ctypes.byref(hdr), data) < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def have_effective(cap: int) -> bool:
    return bool(get_sets()[0] >> cap & 1)


def drop_bounding_set(keep: int) -> None:
    """Drop every capability not in `keep` from the bounding set (needs CAP_SETPCAP, which root
    has in its effective set)."""
    for cap in range(last_cap() + 1):
        if keep >> cap & 1:
            continue
        if prctl(PR_CAPBSET_READ, cap) == 1:
            prctl(PR_CAPBSET_DROP, cap)


def apply_ambient(ambient: int, also_inheritable: bool) -> None:
    """Raise `ambient` (first into the inheritable set, where the kernel requires it), lower the
    rest (systemd's capability_ambient_set_apply())."""
    top = last_cap()
    if also_inheritable:
        eff, perm, inh = get_sets()
        want = inh | (ambient & perm)
        if want != inh:
            set_sets(eff, perm, want)
    for cap in range(top + 1):
        if ambient >> cap & 1:
            prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap)
        else:
            try:
                prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_LOWER, cap)
            except OSError:
                pass


def keep_caps_across_setuid(secure_bits: int) -> None:
    """SECURE_KEEP_CAPS before setresuid() away from root, so the permitted set survives for the
    ambient capabilities raised after it (systemd's enforce_user())."""
    want = secure_bits | 1 << SECURE_KEEP_CAPS
    if prctl(PR_GET_SECUREBITS) != want:
        prctl(PR_SET_SECUREBITS, want)


def set_secure_bits(secure_bits: int) -> None:
    """SecureBits= (and KEEP_CAPS cleared again); CAP_SETPCAP is raised into the effective set
    first, which execve() recomputes anyway."""
    if prctl(PR_GET_SECUREBITS) == secure_bits:
        return
    eff, perm, inh = get_sets()
    if perm >> CAP_SETPCAP & 1 and not eff >> CAP_SETPCAP & 1:
        set_sets(eff | 1 << CAP_SETPCAP, perm, inh)
    prctl(PR_SET_SECUREBITS, secure_bits)


def no_new_privileges() -> None:
    prctl(PR_SET_NO_NEW_PRIVS, 1)


CAP_ALL_KNOWN = (1 << (last_cap() + 1)) - 1


def effective_bounding_set(ctx: ExecContext) -> int:
    """The bounding set as the unit's settings imply it, limited to the capabilities this kernel knows."""
    return bounding_set(ctx) & CAP_ALL_KNOWN
