"""Linux capability names, indexed by number (linux/capability.h; CAP_LAST_CAP of 5.9+ is 40).

Unit files name capabilities as `CAP_*` (any case); D-Bus carries them as one 64-bit mask.
"""

from __future__ import annotations

CAPABILITIES: tuple[str, ...] = (
    "cap_chown", "cap_dac_override", "cap_dac_read_search", "cap_fowner", "cap_fsetid", "cap_kill",
    "cap_setgid", "cap_setuid", "cap_setpcap", "cap_linux_immutable", "cap_net_bind_service",
    "cap_net_broadcast", "cap_net_admin", "cap_net_raw", "cap_ipc_lock", "cap_ipc_owner", "cap_sys_module",
    "cap_sys_rawio", "cap_sys_chroot", "cap_sys_ptrace", "cap_sys_pacct", "cap_sys_admin", "cap_sys_boot",
    "cap_sys_nice", "cap_sys_resource", "cap_sys_time", "cap_sys_tty_config", "cap_mknod", "cap_lease",
    "cap_audit_write", "cap_audit_control", "cap_setfcap", "cap_mac_override", "cap_mac_admin", "cap_syslog",
    "cap_wake_alarm", "cap_block_suspend", "cap_audit_read", "cap_perfmon", "cap_bpf", "cap_checkpoint_restore",
)  # fmt: skip

CAP_ALL = (1 << len(CAPABILITIES)) - 1
_BY_NAME = {name: i for i, name in enumerate(CAPABILITIES)}


def capability_from_name(name: str) -> int:
    """The number of a capability name (`CAP_NET_RAW`, `cap_net_raw`) or a plain number; ValueError."""
    lowered = name.lower()
    if lowered in _BY_NAME:
        return _BY_NAME[lowered]
    if name.isdigit() and int(name) < 63:
        return int(name)
    raise ValueError(name)


def mask_of(names: list[str]) -> int:
    mask = 0
    for name in names:
        mask |= 1 << capability_from_name(name)
    return mask


def names_of(mask: int) -> list[str]:
    return [name for i, name in enumerate(CAPABILITIES) if mask >> i & 1]
