"""SetUnitProperties: live-settable properties, applied to the loaded unit and kept as drop-ins.

As systemd 252 does: every assignment is checked before any is applied; each applied one is
written to `<control dir>/<unit>.d/50-<Name>.conf`, where the control dir is the scope's
persistent or runtime config dir with `.control` appended (`/etc/systemd/system.control`,
`/run/systemd/system.control`, `~/.config/systemd/user.control`,
`$XDG_RUNTIME_DIR/systemd/user.control`). Those dirs are on the default search path, so the
setting survives daemon-reload. Resource-control settings (CPUWeight=, MemoryMax=, ...) take
effect at once on the unit's cgroup when it has one (core/cgroup.py realizes it again).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from dbus_fast import DBusError

from compat.config_oom import MANAGED_OOM_MODES, MANAGED_OOM_PREFERENCES
from compat.model import CGroupContext, UnitConfig, UnitKind
from sysmasterd.bus import errors, spec
from sysmasterd.bus.defaults import UINT32_MAX, UINT64_MAX
from sysmasterd.timespan import format_timespan

if TYPE_CHECKING:
    from compat.specifiers import HostFacts
    from sysmasterd.core.unit import Unit

HEADER = (
    '# This is a drop-in unit file extension, created via "systemctl set-property"\n'
    "# or an equivalent operation. Do not edit.\n"
)
# Unit types with a cgroup context in systemd, and the section their settings live in.
_CGROUP_SECTIONS = {
    UnitKind.SERVICE: "Service", UnitKind.SOCKET: "Socket", UnitKind.MOUNT: "Mount",
    UnitKind.SWAP: "Swap", UnitKind.SLICE: "Slice", UnitKind.SCOPE: "Scope",
}
_CGROUP_WEIGHT_MAX = 10000
_CGROUP_WEIGHT_IDLE = 0


Parser = Callable[[Any, str, "HostFacts"], "Assignment"]


@dataclass(frozen=True)
class Assignment:
    """One checked property assignment: what to apply in memory and the drop-in that records it."""

    name: str  # as sent; names the drop-in file
    section: str
    line: str
    apply: Callable[[UnitConfig], UnitConfig]


def _out_of_range(name: str) -> DBusError:
    return errors.invalid_args(f"Value specified in {name} is out of range")


def _set_cgroup(**changes: Any) -> Callable[[UnitConfig], UnitConfig]:
    def apply(config: UnitConfig) -> UnitConfig:
        cgroup: CGroupContext = replace(config.cgroup, **changes)
        return replace(config, cgroup=cgroup)

    return apply


def percent_text(raw: int) -> str:
    """A UINT32_MAX-scaled fraction as systemd writes percentages ("50%", "12.5%", "0.05%")."""
    permyriad = (raw * 10000 + UINT32_MAX // 2) // UINT32_MAX
    whole, frac = divmod(permyriad, 100)
    if frac == 0:
        return f"{whole}%"
    return f"{whole}.{frac // 10}%" if frac % 10 == 0 else f"{whole}.{frac:02d}%"


def permyriad_text(raw: int) -> str:
    """A UINT32_MAX-scaled fraction with two decimals, as systemd writes ManagedOOMMemoryPressureLimit=."""
    permyriad = (raw * 10000 + UINT32_MAX // 2) // UINT32_MAX
    return f"{permyriad // 100}.{permyriad % 100:02d}%"


def scaled(total: int, raw: int, page: int = 1) -> int:
    """`total` times raw/UINT32_MAX, rounded down to whole pages (systemd's physical_memory_scale)."""
    if raw == UINT32_MAX:
        return total
    return (total // page) * raw // UINT32_MAX * page


def _description(value: str, section: str, facts: HostFacts) -> Assignment:
    if "\n" in value:
        raise errors.invalid_args("Description= may not contain a newline.")

    def apply(config: UnitConfig) -> UnitConfig:
        return replace(config, unit=replace(config.unit, description=value))

    # Escaped like systemd's UNIT_ESCAPE_SPECIFIERS, so the file reads back as the same text.
    return Assignment("Description", "Unit", "Description=" + value.replace("%", "%%"), apply)


def _weight(name: str, field: str, idle_ok: bool) -> Callable[[int, str, HostFacts], Assignment]:
    """CPUWeight= and the like: UINT64_MAX unsets; idle (0) only for the CPU weights."""

    def check(value: int, section: str, facts: HostFacts) -> Assignment:
        if value == UINT64_MAX:
            return Assignment(name, section, f"{name}=", _set_cgroup(**{field: None}))
        if not (1 <= value <= _CGROUP_WEIGHT_MAX or (idle_ok and value == _CGROUP_WEIGHT_IDLE)):
            raise _out_of_range(name)
        text = "idle" if value == _CGROUP_WEIGHT_IDLE else str(value)
        return Assignment(name, section, f"{name}={text}", _set_cgroup(**{field: value}))

    return check


def _limit(name: str, field: str, minimum: int = 1) -> Callable[[int, str, HostFacts], Assignment]:
    def check(value: int, section: str, facts: HostFacts) -> Assignment:
        if value < minimum:
            raise _out_of_range(name)
        text = "infinity" if value == UINT64_MAX else str(value)
        return Assignment(name, section, f"{name}={text}", _set_cgroup(**{field: value}))

    return check


def _limit_scale(name: str, field: str, total: Callable[[HostFacts], int], page: int, whole_ok: bool,
                 minimum: int = 1) -> Callable[[int, str, HostFacts], Assignment]:
    def check(raw: int, section: str, facts: HostFacts) -> Assignment:
        value = scaled(total(facts), raw, page)
        if value < minimum or (raw == UINT32_MAX and not whole_ok):
            raise _out_of_range(name + "Scale")
        return Assignment(name + "Scale", section, f"{name}={percent_text(raw)}", _set_cgroup(**{field: value}))

    return check


def _memory(name: str, minimum: int) -> dict[str, tuple[str, Parser, bool]]:
    """A memory limit by bytes and by share of physical memory (MemoryMaxScale, ...)."""
    field = "memory_" + name.removeprefix("Memory").lower().replace("swapmax", "swap_max")
    return {
        name: ("t", _limit(name, field, minimum), True),
        name + "Scale": ("u", _limit_scale(name, field, lambda f: f.physical_memory, os.sysconf("SC_PAGE_SIZE"),
                                           whole_ok=True, minimum=minimum), True),
    }


def _cpu_quota(value: int, section: str, facts: HostFacts) -> Assignment:
    if value <= 0:
        raise errors.invalid_args("CPUQuotaPerSecUSec= value out of range")
    # Whole percent, truncated, as systemd writes it (CPUQuota= takes integers only).
    text = "" if value == UINT64_MAX else f"{value // 10000}%"
    return Assignment("CPUQuota", section, f"CPUQuota={text}",
                      _set_cgroup(cpu_quota_per_sec_usec=None if value == UINT64_MAX else value))


def _cpu_quota_period(value: int, section: str, facts: HostFacts) -> Assignment:
    text = "" if value == UINT64_MAX else format_timespan(value, 1)
    return Assignment("CPUQuotaPeriodSec", section, f"CPUQuotaPeriodSec={text}",
                      _set_cgroup(cpu_quota_period_usec=None if value == UINT64_MAX else value))


_MANAGED_OOM_SECTIONS = ("Service", "Scope", "Slice")  # the unit types systemd-oomd acts on


def _managed_oom(name: str, field: str, choices: tuple[str, ...]) -> Callable[[str, str, HostFacts], Assignment]:
    def check(value: str, section: str, facts: HostFacts) -> Assignment:
        if name != "ManagedOOMPreference" and section not in _MANAGED_OOM_SECTIONS:
            raise errors.invalid_args(f"Cannot set {name} for this unit type")
        if value not in choices:
            raise errors.invalid_args("Failed to set unit properties: Invalid argument")  # its -EINVAL
        return Assignment(name, section, f"{name}={value}", _set_cgroup(**{field: value}))

    return check


def _pressure_limit(value: int, section: str, facts: HostFacts) -> Assignment:
    name = "ManagedOOMMemoryPressureLimit"
    if section not in _MANAGED_OOM_SECTIONS:
        raise errors.invalid_args(f"Cannot set {name} for this unit type")
    return Assignment(name, section, f"{name}={permyriad_text(value)}",
                      _set_cgroup(managed_oom_memory_pressure_limit=value))


# name -> (wire signature systemctl sends, parser, needs a cgroup context)
_SETTABLE: dict[str, tuple[str, Parser, bool]] = {
    "Description": ("s", _description, False),
    "CPUWeight": ("t", _weight("CPUWeight", "cpu_weight", idle_ok=True), True),
    "StartupCPUWeight": ("t", _weight("StartupCPUWeight", "startup_cpu_weight", idle_ok=True), True),
    "CPUQuotaPerSecUSec": ("t", _cpu_quota, True),
    "CPUQuotaPeriodUSec": ("t", _cpu_quota_period, True),
    "IOWeight": ("t", _weight("IOWeight", "io_weight", idle_ok=False), True),
    "StartupIOWeight": ("t", _weight("StartupIOWeight", "startup_io_weight", idle_ok=False), True),
    **_memory("MemoryMin", 0), **_memory("MemoryLow", 0), **_memory("MemoryHigh", 1),
    **_memory("MemoryMax", 1), **_memory("MemorySwapMax", 0), **_memory("MemoryLimit", 1),
    "TasksMax": ("t", _limit("TasksMax", "tasks_max"), True),
    "TasksMaxScale": ("u", _limit_scale("TasksMax", "tasks_max", lambda f: f.tasks_max, 1, whole_ok=False), True),
    "ManagedOOMSwap": ("s", _managed_oom("ManagedOOMSwap", "managed_oom_swap", MANAGED_OOM_MODES), True),
    "ManagedOOMMemoryPressure": ("s", _managed_oom("ManagedOOMMemoryPressure", "managed_oom_memory_pressure",
                                                   MANAGED_OOM_MODES), True),
    "ManagedOOMMemoryPressureLimit": ("u", _pressure_limit, True),
    "ManagedOOMPreference": ("s", _managed_oom("ManagedOOMPreference", "managed_oom_preference",
                                               MANAGED_OOM_PREFERENCES), True),
}


def _refusal(name: str, has_cgroup: bool) -> DBusError:
    # A cgroup setting systemd would take at runtime: say it is ours that is missing.
    if has_cgroup and name.removesuffix("Scale") in spec.interface("org.freedesktop.systemd1.Slice").properties:
        return errors.bus_error(errors.NOT_SUPPORTED,
                                f"Setting {name.removesuffix('Scale')}= at runtime is not supported by sysmasterd.")
    return errors.bus_error(errors.PROPERTY_READ_ONLY, f"Cannot set property {name}, or unknown property.")


def check(u: Unit, props: list[Any], facts: HostFacts) -> list[Assignment]:
    """All assignments checked, or the error of the first bad one (nothing applied then)."""
    u.check_loaded_for_job()  # systemd's errors for not-found, masked, bad-setting units
    section = _CGROUP_SECTIONS.get(u.kind)
    out = []
    for name, variant in props:
        entry = _SETTABLE.get(name)
        if entry is None or (entry[2] and section is None):
            raise _refusal(name, section is not None)
        signature, parse, _ = entry
        if variant.signature != signature:
            raise errors.invalid_args(f"Property {name} expects type '{signature}', got '{variant.signature}'.")
        out.append(parse(variant.value, section or "Unit", facts))
    return out


def apply(u: Unit, assignments: list[Assignment], directory: str) -> None:
    """Apply to the loaded unit, then record each in `directory`/<unit>.d/50-<Name>.conf."""
    config = u.config
    if config is None:
        return
    for a in assignments:
        config = a.apply(config)
    u.config = config  # a new object: cached config-derived properties are recomputed
    if u.manager.cgroups is not None:
        u.manager.cgroups.refresh(u.id)  # a running unit's cgroup takes the new settings now
    dropin_dir = os.path.join(directory, u.id + ".d")
    os.makedirs(dropin_dir, mode=0o755, exist_ok=True)
    for a in assignments:
        path = os.path.join(dropin_dir, f"50-{a.name}.conf")
        _write_atomic(path, f"{HEADER}[{a.section}]\n{a.line}\n")
        if path not in u.dropin_paths:
            u.dropin_paths.append(path)


def _write_atomic(path: str, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".#")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.rename(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
