"""What happens when memory runs out: OOMPolicy= ([Service]) and the ManagedOOM*= settings of the
cgroup context that systemd-oomd reads, parsed as systemd 252's config_parse_oom_policy(),
config_parse_managed_oom_mode(), config_parse_managed_oom_mem_pressure_limit() and
config_parse_managed_oom_preference()."""

from __future__ import annotations

from compat.model import OOMPolicy, UnitConfig
from compat.settings import Handler, Invalid, ParseContext, enum_of
from compat.values import parse_permyriad

UINT32_MAX = (1 << 32) - 1
MANAGED_OOM_MODES = ("auto", "kill")
MANAGED_OOM_PREFERENCES = ("none", "avoid", "omit")
# the unit types systemd-oomd acts on (can_set_managed_oom in systemd's vtables)
_MANAGED_TYPES = (".service", ".scope", ".slice")

parse_oom_policy = enum_of(OOMPolicy, "OOM policy")


def scale_permyriad(permyriad: int) -> int:
    """Parts per ten thousand -> the 32-bit scale systemd keeps the limit in (UINT32_MAX = 100%)."""
    return (min(max(permyriad, 0), 10000) * UINT32_MAX + 5000) // 10000


def _managed(cfg: UnitConfig, ctx: ParseContext) -> bool:
    if ctx.name.endswith(_MANAGED_TYPES):
        return True
    key = ctx.current.key if ctx.current else "ManagedOOM"
    ctx.warn(f"{key}= is not supported for this unit type, ignoring.")
    return False


def _mode(attr: str) -> Handler:
    def handle(cfg: UnitConfig, value: str, ctx: ParseContext) -> None:
        if not _managed(cfg, ctx):
            return
        if value and value not in MANAGED_OOM_MODES:
            raise Invalid(f"Invalid syntax, ignoring: {value}", complete=True)
        setattr(cfg.cgroup, attr, value or "auto")

    return handle


def _pressure_limit(cfg: UnitConfig, value: str, ctx: ParseContext) -> None:
    if not _managed(cfg, ctx):
        return
    if not value:
        cfg.cgroup.managed_oom_memory_pressure_limit = 0
        return
    try:
        permyriad = parse_permyriad(value)
    except ValueError:
        raise Invalid(f"Failed to parse memory pressure limit value, ignoring: {value}", complete=True) from None
    cfg.cgroup.managed_oom_memory_pressure_limit = scale_permyriad(permyriad)


def _preference(cfg: UnitConfig, value: str, ctx: ParseContext) -> None:
    if value not in MANAGED_OOM_PREFERENCES:
        raise Invalid("Failed to parse ManagedOOMPreference=")
    cfg.cgroup.managed_oom_preference = value


MANAGED_OOM_HANDLERS: dict[str, Handler] = {
    "ManagedOOMSwap": _mode("managed_oom_swap"),
    "ManagedOOMMemoryPressure": _mode("managed_oom_memory_pressure"),
    "ManagedOOMMemoryPressureLimit": _pressure_limit,
    "ManagedOOMPreference": _preference,
}
