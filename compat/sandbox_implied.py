"""What the sandbox settings imply for the rest of a unit's settings, as systemd 252's
unit_patch_contexts() patches them in once the unit is loaded: protections take capabilities out of
the bounding set, PrivateDevices= closes the device policy, ProtectClock= lets the RTC be read.

Both the spawning code and the D-Bus properties read these, so what a client sees is what runs.
"""

from __future__ import annotations

import re

from compat import unitname
from compat.capnames import capability_from_name
from compat.model import CGroupContext, DeviceAllow, ExecContext

_USER_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,30}")

UINT64_MAX = (1 << 64) - 1


def bounding_set(ex: ExecContext) -> int:
    """CapabilityBoundingSet= (all 64 bits when unset, as systemd initializes it) less what
    PrivateDevices=, ProtectKernelModules=, ProtectKernelLogs= and ProtectClock= drop."""
    bset = ex.capability_bounding_set if ex.capability_bounding_set is not None else UINT64_MAX
    drop: list[str] = []
    if ex.private_devices:
        drop += ["cap_mknod", "cap_sys_rawio"]
    if ex.protect_kernel_modules:
        drop.append("cap_sys_module")
    if ex.protect_kernel_logs:
        drop.append("cap_syslog")
    if ex.protect_clock:
        drop += ["cap_sys_time", "cap_wake_alarm"]
    for name in drop:
        bset &= ~(1 << capability_from_name(name))
    return bset


def patch_dynamic_user(ex: ExecContext, unit: str) -> None:
    """DynamicUser=: the user named after the unit (where its prefix is a valid user name; the core
    derives the hashed _du name otherwise), the group after the user, and a strict sandbox so the
    unit leaves its UID nowhere behind: these are written into the settings, as systemd's
    unit_patch_contexts() writes them, so that the bus shows them."""
    if not ex.dynamic_user:
        return
    if not ex.user:
        parsed = unitname.parse(unit)
        if parsed is not None and _USER_NAME.fullmatch(parsed.prefix):
            ex.user = parsed.prefix
    if not ex.group and ex.user:
        ex.group = ex.user
    ex.private_tmp = True
    ex.remove_ipc = True
    ex.protect_system = "strict"
    if ex.protect_home == "no":
        ex.protect_home = "read-only"
    ex.no_new_privileges = True
    ex.restrict_suidsgid = True


def device_policy(cg: CGroupContext, ex: ExecContext | None) -> str:
    if ex is not None and ex.private_devices and cg.device_policy == "auto":
        return "closed"
    return cg.device_policy


def device_allow(cg: CGroupContext, ex: ExecContext | None) -> list[DeviceAllow]:
    """DeviceAllow= newest first (systemd prepends each entry), with ProtectClock='s RTC entry on
    top once anything restricts devices. (The RootImage= and encrypted-credential entries are not
    added: neither setting is supported.)"""
    entries = list(reversed(cg.device_allow))
    if ex is not None and ex.protect_clock and (device_policy(cg, ex) != "auto" or entries):
        entries.insert(0, DeviceAllow("char-rtc", "r"))
    return entries
