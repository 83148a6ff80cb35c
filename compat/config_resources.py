"""Resource-control directives of the cgroup context (systemd.resource-control(5)): CPU weights
and quota, AllowedCPUs=, the memory limits, IO weights and limits. Values and warnings as
systemd 252's load-fragment.c parses them."""

from __future__ import annotations

import re

from compat.model import CGroupContext, UnitConfig
from compat.settings import Handler, Invalid, ParseContext, normalize_path, plain, setter, words
from compat.values import UINT64_MAX, c_integer, parse_cpu_set, parse_permyriad, parse_size, parse_timespan

WEIGHT_MIN, WEIGHT_MAX = 1, 10000
USEC_PER_SEC = 1_000_000
IO_LIMIT_TYPES = ("IOReadBandwidthMax", "IOWriteBandwidthMax", "IOReadIOPSMax", "IOWriteIOPSMax")
# Unset IO limits read as "max" (UINT64_MAX) in each of the four columns.
IO_LIMIT_DEFAULTS = [UINT64_MAX] * len(IO_LIMIT_TYPES)
# Limits that may be 0 (systemd lets a floor or the swap limit be zero, never a ceiling).
_ZERO_OK = frozenset({"MemorySwapMax", "MemoryLow", "MemoryMin"})


def _cgroup(cfg: UnitConfig) -> CGroupContext:
    return cfg.cgroup


def weight(text: str) -> int:
    """cg_weight_parse(): 1..10000."""
    value = c_integer(text, signed=False)
    if not WEIGHT_MIN <= value <= WEIGHT_MAX:
        raise ValueError("Numerical result out of range")
    return value


def cpu_weight(text: str) -> int:
    """cg_cpu_weight_parse(): a weight, or `idle` (0)."""
    return 0 if text == "idle" else weight(text)


def memory_limit(name: str) -> Handler:
    """config_parse_memory_limit() for MemoryMin/Low/High/Max/SwapMax/Limit=."""

    def handle(cfg: UnitConfig, value: str, ctx: ParseContext) -> None:
        field = name.removeprefix("Memory").lower().replace("swapmax", "swap_max")
        # An empty floor is 0, an empty ceiling "no limit": both read as the default.
        limit = None if value == "" else UINT64_MAX if value == "infinity" else _memory_bytes(name, value, ctx)
        if name == "MemoryLimit":  # also for an empty assignment, as systemd warns
            ctx.warn("Unit uses MemoryLimit=; please use MemoryMax= instead. "
                     "Support for MemoryLimit= will be removed soon.")
        setattr(cfg.cgroup, f"memory_{field}", limit)

    return handle


def _memory_bytes(name: str, value: str, ctx: ParseContext) -> int:
    try:
        size = ctx.facts.physical_memory * parse_permyriad(value) // 10000
    except ValueError:
        try:
            size = parse_size(value)
        except ValueError:
            negative = re.fullmatch(r"-[0-9.]+[KMGTPE]?", value) is not None
            reason = "Numerical result out of range" if negative else "Invalid argument"
            raise Invalid(f"Invalid memory limit '{value}', ignoring: {reason}", complete=True) from None
    if size >= UINT64_MAX or (size < 1 and name not in _ZERO_OK):
        raise Invalid(f"Memory limit '{value}' out of range, ignoring.", complete=True)
    return size


def _cpu_quota(value: str, ctx: ParseContext) -> int:
    try:
        permyriad = parse_permyriad(value, bounded=False)
    except ValueError:
        permyriad = 0
    if permyriad <= 0:
        raise Invalid(f"Invalid CPU quota '{value}', ignoring.", complete=True)
    return permyriad * USEC_PER_SEC // 10000


def _allowed_cpus(cfg: UnitConfig, value: str, ctx: ParseContext) -> None:
    """config_parse_allowed_cpuset(): lists extend the set; an empty value clears it."""
    expanded = ctx.printf(value)
    if expanded == "":
        cfg.cgroup.allowed_cpus = ()
        return
    try:
        cpus = parse_cpu_set(expanded)
    except ValueError as e:
        first, dash, last = str(e).partition("-")
        if dash and first.isdigit() and last.isdigit() and int(last) < int(first):
            raise Invalid(f"Range '{e}' is invalid, {first} > {last}, ignoring.", complete=True) from None
        raise Invalid(f"Failed to parse CPU affinity '{e}'", complete=True) from None
    cfg.cgroup.allowed_cpus = tuple(sorted(set(cfg.cgroup.allowed_cpus) | set(cpus)))


def _device_and_value(value: str, ctx: ParseContext, what: str) -> tuple[str, str]:
    parts = words(value)
    if len(parts) < 2:
        raise Invalid(f"Invalid device {what} specified in '{value}', ignoring.", complete=True)
    # systemd simplifies the path without asking it to be absolute: a bad one matches no device.
    return normalize_path(ctx.printf(parts[0])), " ".join(parts[1:])


def _io_device_weight(cfg: UnitConfig, value: str, ctx: ParseContext) -> None:
    if value == "":
        cfg.cgroup.io_device_weights.clear()
        return
    path, text = _device_and_value(value, ctx, "path or weight")
    try:
        w = weight(text)
    except ValueError as e:
        reason = str(e) if "range" in str(e) else "Invalid argument"
        raise Invalid(f"IO weight '{text}' invalid, ignoring: {reason}", complete=True) from None
    cfg.cgroup.io_device_weights.append((path, w))


def io_limit(name: str) -> Handler:
    """config_parse_io_limit(): one column of a device's limits; empty resets that column."""
    column = IO_LIMIT_TYPES.index(name)

    def handle(cfg: UnitConfig, value: str, ctx: ParseContext) -> None:
        limits = cfg.cgroup.io_device_limits
        if value == "":
            for row in limits.values():
                row[column] = IO_LIMIT_DEFAULTS[column]
            return
        path, text = _device_and_value(value, ctx, "node or bandwidth")
        if text == "infinity":
            number = UINT64_MAX
        else:
            try:
                number = parse_size(text, 1000)
            except ValueError:
                number = 0
            if number <= 0:
                raise Invalid(f"Invalid IO limit '{text}', ignoring.", complete=True)
        limits.setdefault(path, list(IO_LIMIT_DEFAULTS))[column] = number

    return handle


def _period(value: str, ctx: ParseContext) -> int:
    return plain(parse_timespan, "Failed to parse sec_def_infinity value")(value, ctx)


RESOURCE_HANDLERS: dict[str, Handler] = {
    "StartupCPUWeight": setter(_cgroup, "startup_cpu_weight", plain(cpu_weight, "Invalid CPU weight"), reset=True),
    "CPUQuota": setter(_cgroup, "cpu_quota_per_sec_usec", _cpu_quota, reset=True),
    "CPUQuotaPeriodSec": setter(_cgroup, "cpu_quota_period_usec", _period, reset=True),
    "AllowedCPUs": _allowed_cpus,
    **{name: memory_limit(name) for name in ("MemoryMin", "MemoryLow", "MemoryHigh", "MemoryMax",
                                             "MemorySwapMax", "MemoryLimit")},
    "IOWeight": setter(_cgroup, "io_weight", plain(weight, "Invalid weight"), reset=True),
    "StartupIOWeight": setter(_cgroup, "startup_io_weight", plain(weight, "Invalid weight"), reset=True),
    "IODeviceWeight": _io_device_weight,
    **{name: io_limit(name) for name in IO_LIMIT_TYPES},
}
