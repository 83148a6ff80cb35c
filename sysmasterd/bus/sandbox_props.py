"""The sandbox and access-list properties whose wire form is not a plain copy of a config field, as
systemd 252's dbus-execute.c and dbus-cgroup.c build them: lists sorted where systemd sorts them,
the implied settings of unit_patch_contexts() included (compat/sandbox_implied.py).

Each getter reads nothing but the unit's config, so the interfaces cache their values per config.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from compat.model import CGroupContext, ExecContext, IPPrefix
from compat.sandbox_implied import bounding_set, device_allow, device_policy
from sysmasterd.core import sandbox, seccomp

SECCOMP_ERROR_NUMBER_KILL = 2**31 - 2  # systemd's INT_MAX - 1
MS_REC = 16384
_ERRNO_NAMES: dict[int, str] = {}


def _errno_name(number: int) -> str:
    if not _ERRNO_NAMES:
        import errno

        # errno.errorcode maps each number to one of its names; systemd's table keeps the first
        # definition of linux/errno.h, which errorcode agrees with except for these aliases.
        _ERRNO_NAMES.update(errno.errorcode)
        _ERRNO_NAMES.update({errno.EWOULDBLOCK: "EAGAIN", errno.EDEADLOCK: "EDEADLK", errno.ENOTSUP: "EOPNOTSUPP"})
    return _ERRNO_NAMES.get(number, str(number))


def syscall_filter(ex: ExecContext) -> list[Any]:
    """(bas): allow-list flag and the names, an errno after ':' where one is set. Calls of an allow
    list that carry an errno are the denied ones and are left out, as systemd leaves them out."""
    flt = ex.syscall_filter
    if flt is None:
        return [False, []]
    names = []
    for name, code in flt.calls.items():
        if (flt.allow and code is not None) or not seccomp.known_syscall(name):
            continue
        if code is None:
            names.append(name)
        else:
            names.append(f"{name}:{'kill' if code == -1 else _errno_name(code)}")
    return [flt.allow, sorted(names)]


def syscall_log(ex: ExecContext) -> list[Any]:
    """(bas): whether the list names the logged calls (else the unlogged ones), and the names."""
    log = ex.syscall_log
    if log is None:
        return [False, []]
    return [log.allow, sorted(name for name in log.calls if seccomp.known_syscall(name))]


def syscall_architectures(ex: ExecContext) -> list[str]:
    return sorted(set(ex.system_call_architectures))


def syscall_errno(ex: ExecContext) -> int:
    return SECCOMP_ERROR_NUMBER_KILL if ex.syscall_errno is None else ex.syscall_errno


def address_families(ex: ExecContext) -> list[Any]:
    fams = ex.address_families
    return [False, []] if fams is None else [fams.allow, sorted(fams.families)]


def _bind_paths(read_only: bool) -> Callable[[ExecContext], list[list[Any]]]:
    def get(ex: ExecContext) -> list[list[Any]]:
        return [[b.source, b.destination, b.optional, MS_REC if b.recursive else 0]
                for b in ex.bind_mounts if b.read_only == read_only]

    return get


def temporary_file_system(ex: ExecContext) -> list[list[str]]:
    return [[t.path, t.options] for t in ex.tmpfs_mounts]


def _loaded(encrypted: bool) -> Callable[[ExecContext], list[list[str]]]:
    return lambda ex: [[c.id, c.path] for c in ex.credentials if c.path is not None and c.encrypted == encrypted]


def _set(encrypted: bool) -> Callable[[ExecContext], list[list[Any]]]:
    return lambda ex: [[c.id, c.data] for c in ex.credentials if c.data is not None and c.encrypted == encrypted]


EXEC_PROPERTIES: dict[str, Callable[[ExecContext], Any]] = {
    "SystemCallFilter": syscall_filter,
    "SystemCallLog": syscall_log,
    "MountAPIVFS": sandbox.mount_apivfs,  # the effective value
    "SystemCallArchitectures": syscall_architectures,
    "SystemCallErrorNumber": syscall_errno,
    "RestrictAddressFamilies": address_families,
    "BindPaths": _bind_paths(read_only=False),
    "BindReadOnlyPaths": _bind_paths(read_only=True),
    "TemporaryFileSystem": temporary_file_system,
    "CapabilityBoundingSet": bounding_set,
    "LoadCredential": _loaded(False),
    "LoadCredentialEncrypted": _loaded(True),
    "SetCredential": _set(False),
    "SetCredentialEncrypted": _set(True),
}


def _prefixes(rows: list[IPPrefix]) -> list[list[Any]]:
    return [[p.family, p.address, p.prefixlen] for p in rows]


CGROUP_PROPERTIES: dict[str, Callable[[CGroupContext, ExecContext | None], Any]] = {
    "DevicePolicy": device_policy,
    "DeviceAllow": lambda cg, ex: [[d.path, d.rights] for d in device_allow(cg, ex)],
    "IPAccounting": lambda cg, ex: cg.ip_accounting,
    "IPAddressAllow": lambda cg, ex: _prefixes(cg.ip_address_allow),
    "IPAddressDeny": lambda cg, ex: _prefixes(cg.ip_address_deny),
}
