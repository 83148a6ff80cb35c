"""Which per-instance procfs options (ProtectProc='s hidepid=, ProcSubset='s subset=) the kernel
takes, asked without mounting anything, as systemd 252's mount_option_supported() asks: a procfs
superblock context from fsopen(2), then fsconfig(2) with the option.

Why ask first: hidepid= took its textual values and became per-instance in the same kernel (5.8);
an older kernel given them either rejects the mount or, for the numeric form, changes the host's
/proc. Asking also keeps the kernel's "unknown option" lines out of dmesg. A kernel without
fsopen() (before 5.2) is assumed to take the option; mounting then tells (see sandbox.py).
fsopen/fsconfig have the same numbers on every architecture but alpha (the unified table of 5.1+).
"""

from __future__ import annotations

import ctypes
import errno
import os
from collections.abc import Callable

_SYS_FSOPEN = 430
_SYS_FSCONFIG = 431
_FSOPEN_CLOEXEC = 0x1
_FSCONFIG_SET_STRING = 1

_libc: ctypes.CDLL | None = None


def _syscall() -> Callable[..., int]:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    syscall: Callable[..., int] = _libc.syscall
    return syscall


def option_supported(fstype: str, key: str, value: str) -> bool:
    """False only when the kernel says the option or its value is unknown (EINVAL, EOPNOTSUPP)."""
    syscall = _syscall()
    fd = syscall(ctypes.c_long(_SYS_FSOPEN), fstype.encode(), ctypes.c_uint(_FSOPEN_CLOEXEC))
    if fd < 0:
        return True
    try:
        r = syscall(ctypes.c_long(_SYS_FSCONFIG), ctypes.c_int(fd), ctypes.c_uint(_FSCONFIG_SET_STRING),
                    key.encode(), value.encode(), ctypes.c_int(0))
        return r >= 0 or ctypes.get_errno() not in (errno.EINVAL, errno.EOPNOTSUPP)
    finally:
        os.close(fd)


def supported(options: str) -> str:
    """The `key=value` options of a proc mount that this kernel takes, in their order."""
    kept = [o for o in options.split(",") if o and option_supported("proc", *o.partition("=")[::2])]
    return ",".join(kept)
