"""Resource control: which controllers a unit's cgroup needs and what to write into them, as
systemd 252's cgroup.c decides it (unit_get_cgroup_mask, cgroup_context_apply).

Two layouts. Unified (cgroup2 with controllers): cpu.weight/cpu.max, cpuset.cpus, io.weight/io.max,
memory.min/low/high/max/swap.max, pids.max. Hybrid and legacy (controllers on v1 hierarchies):
the v1 equivalents — cpu.shares from CPUWeight=, cpu.cfs_period_us/cfs_quota_us, blkio.weight from
IOWeight=, blkio.throttle.*, memory.limit_in_bytes from MemoryMax= (MemoryMin/Low/High/SwapMax
have no v1 form: systemd leaves them out there too), pids.max. cpuset is a v2-only controller for
systemd, so AllowedCPUs= does nothing on v1, as under systemd.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass

from compat.config_resources import IO_LIMIT_DEFAULTS
from compat.model import CGroupContext

UINT64_MAX = (1 << 64) - 1
USEC_PER_SEC = 1_000_000
USEC_PER_MSEC = 1000
QUOTA_PERIOD_DEFAULT = 100 * USEC_PER_MSEC
WEIGHT_DEFAULT = 100
SHARES_MIN, SHARES_MAX, SHARES_DEFAULT = 2, 262144, 1024
BLKIO_MIN, BLKIO_MAX, BLKIO_DEFAULT = 10, 1000, 500
V1_CONTROLLERS = ("cpu", "cpuacct", "blkio", "memory", "devices", "pids")  # CGROUP_MASK_V1
V2_CONTROLLERS = ("cpu", "cpuset", "io", "memory", "pids")  # CGROUP_MASK_V2
# Errors that mean "not ours to set here" (a read-only or delegated tree, a missing file): debug.
_QUIET = frozenset({errno.ENOENT, errno.EROFS, errno.EACCES, errno.EPERM})


@dataclass(frozen=True)
class Write:
    controller: str  # the v1 hierarchy or the v2 controller the file belongs to
    file: str
    value: str


def _has_cpu(c: CGroupContext) -> bool:
    return c.cpu_weight is not None or c.startup_cpu_weight is not None or c.cpu_quota_per_sec_usec is not None


def _has_io(c: CGroupContext) -> bool:
    return (c.io_weight is not None or c.startup_io_weight is not None or bool(c.io_device_weights)
            or bool(c.io_device_limits))


def _has_unified_memory(c: CGroupContext) -> bool:
    return bool(c.memory_min or c.memory_low) or any(
        v is not None and v != UINT64_MAX for v in (c.memory_high, c.memory_max, c.memory_swap_max))


def needed(c: CGroupContext, unified: bool, memory_accounting: bool = True, tasks_accounting: bool = True
           ) -> frozenset[str]:
    """The controllers the unit's own settings ask for (systemd's defaults account memory and
    tasks, so every unit has those two; CPU accounting is off where it is not free, on v1)."""
    mask = set()
    if _has_cpu(c):
        mask.add("cpu")
    if c.allowed_cpus:
        mask.add("cpuset")
    if _has_io(c):
        mask.update(("io", "blkio"))
    if memory_accounting or _has_unified_memory(c) or c.memory_limit not in (None, UINT64_MAX):
        mask.add("memory")
    if tasks_accounting or c.tasks_max is not None:
        mask.add("pids")
    if "cpu" in mask and not unified:
        mask.add("cpuacct")  # cpu and cpuacct go together (CGROUP_MASK_EXTEND_JOINED)
    return frozenset(mask & set(V2_CONTROLLERS if unified else V1_CONTROLLERS))


def _clamp(value: int, lo: int, hi: int) -> int:
    return max(lo, min(hi, value))


def _cpu_weight(c: CGroupContext, startup: bool) -> int | None:
    if startup and c.startup_cpu_weight is not None:
        return c.startup_cpu_weight
    return c.cpu_weight


def weight_to_shares(weight: int) -> int:
    """cgroup_cpu_weight_to_shares(): v1 has no idle, it gets the least share."""
    if weight == 0:
        return SHARES_MIN
    return _clamp(weight * SHARES_DEFAULT // WEIGHT_DEFAULT, SHARES_MIN, SHARES_MAX)


def bfq_weight(weight: int) -> int:
    """BFQ_WEIGHT(): the io weight scale (1..100..10000) onto BFQ's (1..100..1000)."""
    if weight <= WEIGHT_DEFAULT:
        return 100 - (WEIGHT_DEFAULT - weight) * 99 // (WEIGHT_DEFAULT - 1)
    return 100 + (weight - WEIGHT_DEFAULT) * 900 // (10000 - WEIGHT_DEFAULT)


def io_to_blkio(weight: int) -> int:
    return _clamp(weight * BLKIO_DEFAULT // WEIGHT_DEFAULT, BLKIO_MIN, BLKIO_MAX)


def quota_period(period: int | None, quota: int | None, warn: Callable[[str], None]) -> int:
    """cgroup_cpu_adjust_period_and_log(): the default 100 ms, clamped so that period and
    quota*period are at least the kernel's 1 ms, and the period at most 1 s."""
    if quota is None:
        return QUOTA_PERIOD_DEFAULT
    wanted = QUOTA_PERIOD_DEFAULT if period is None or period == UINT64_MAX else period
    adjusted = min(max(wanted, USEC_PER_MSEC, USEC_PER_MSEC * USEC_PER_SEC // quota), USEC_PER_SEC)
    if adjusted != wanted:
        warn(f"Clamping CPU interval for cpu.max: period is now {_format_ms(adjusted)}")
    return adjusted


def _format_ms(usec: int) -> str:
    from sysmasterd.timespan import format_timespan

    return format_timespan(usec, 1)


def _quota_value(quota: int, period: int) -> int:
    return max(quota * period // USEC_PER_SEC, USEC_PER_MSEC)


def _limit(v: int | None, default: str = "max") -> str:
    return default if v is None or v == UINT64_MAX else str(v)


def block_device(path: str) -> tuple[int, int] | None:
    """lookup_block_device(): a block node's own number, else the block device the file lives
    on; a partition stands for its whole disk, as the IO controllers take only disks."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    dev = st.st_rdev if stat.S_ISBLK(st.st_mode) else st.st_dev
    if os.major(dev) == 0:
        return None
    sysfs = f"/sys/dev/block/{os.major(dev)}:{os.minor(dev)}"
    if os.path.exists(os.path.join(sysfs, "partition")):
        try:
            with open(os.path.join(sysfs, "..", "dev")) as f:
                major, minor = f.read().strip().split(":")
            return int(major), int(minor)
        except (OSError, ValueError):
            pass
    return os.major(dev), os.minor(dev)


def attributes(c: CGroupContext, unified: bool, mask: frozenset[str], startup: bool = False,
               warn: Callable[[str], None] = lambda _m: None, oom_group: bool = False) -> list[Write]:
    """The files to write for the controllers in `mask`, in cgroup_context_apply()'s order,
    defaults included (a setting removed at runtime goes back to the kernel's default).
    `oom_group`: the kernel kills the whole cgroup on OOM (a service's OOMPolicy=kill)."""
    out: list[Write] = []
    weight = _cpu_weight(c, startup)
    quota = c.cpu_quota_per_sec_usec
    if "cpu" in mask:
        period = quota_period(c.cpu_quota_period_usec, quota, warn)
        if unified:
            w = WEIGHT_DEFAULT if weight is None else weight
            out.append(Write("cpu", "cpu.idle", "1" if w == 0 else "0"))
            if w != 0:
                out.append(Write("cpu", "cpu.weight", str(w)))
            out.append(Write("cpu", "cpu.max",
                             f"{_quota_value(quota, period) if quota is not None else 'max'} {period}"))
        else:
            shares = SHARES_DEFAULT if weight is None else weight_to_shares(weight)
            out.append(Write("cpu", "cpu.shares", str(shares)))
            out.append(Write("cpu", "cpu.cfs_period_us", str(period)))
            out.append(Write("cpu", "cpu.cfs_quota_us",
                             str(_quota_value(quota, period)) if quota is not None else "-1"))
    if "cpuset" in mask and unified:
        out.append(Write("cpuset", "cpuset.cpus", cpu_ranges(c.allowed_cpus)))
        out.append(Write("cpuset", "cpuset.mems", ""))
    io_weight = c.startup_io_weight if startup and c.startup_io_weight is not None else c.io_weight
    io_weight = WEIGHT_DEFAULT if io_weight is None else io_weight
    if "io" in mask and unified:
        out.append(Write("io", "io.bfq.weight", str(bfq_weight(io_weight))))
        out.append(Write("io", "io.weight", f"default {io_weight}"))
        for path, w in c.io_device_weights:
            dev = block_device(path)
            if dev is not None:
                out.append(Write("io", "io.weight", f"{dev[0]}:{dev[1]} {w}"))
        for path, limits in c.io_device_limits.items():
            dev = block_device(path)
            if dev is not None:
                cols = [str(v) if v != d else ("max" if d == UINT64_MAX else "0")
                        for v, d in zip(limits, IO_LIMIT_DEFAULTS, strict=True)]
                out.append(Write("io", "io.max", f"{dev[0]}:{dev[1]} rbps={cols[0]} wbps={cols[1]} "
                                                 f"riops={cols[2]} wiops={cols[3]}"))
    if "blkio" in mask and not unified:
        blkio = io_to_blkio(io_weight) if _has_io(c) else BLKIO_DEFAULT
        # systemd scales the blkio weight as if it were an io one for BFQ: the same numbers here.
        out.append(Write("blkio", "blkio.bfq.weight", str(bfq_weight(blkio))))
        out.append(Write("blkio", "blkio.weight", str(blkio)))
        for path, w in c.io_device_weights:
            dev = block_device(path)
            if dev is not None:
                out.append(Write("blkio", "blkio.weight_device", f"{dev[0]}:{dev[1]} {io_to_blkio(w)}"))
        for path, limits in c.io_device_limits.items():
            dev = block_device(path)
            if dev is not None:
                for column, name in ((0, "read_bps_device"), (1, "write_bps_device")):
                    out.append(Write("blkio", f"blkio.throttle.{name}", f"{dev[0]}:{dev[1]} {limits[column]}"))
    if "memory" in mask:
        if unified:
            unified_config = _has_unified_memory(c)
            top = c.memory_max if unified_config else c.memory_limit
            swap = c.memory_swap_max if unified_config else None
            out += [Write("memory", "memory.min", _limit(c.memory_min, "0")),
                    Write("memory", "memory.low", _limit(c.memory_low, "0")),
                    Write("memory", "memory.high", _limit(c.memory_high)),
                    Write("memory", "memory.max", _limit(top)),
                    Write("memory", "memory.swap.max", _limit(swap)),
                    Write("memory", "memory.oom.group", "1" if oom_group else "0")]
        else:
            top = c.memory_max if _has_unified_memory(c) else c.memory_limit
            out.append(Write("memory", "memory.limit_in_bytes", _limit(top, "-1")))
    if "pids" in mask:
        out.append(Write("pids", "pids.max", _limit(c.tasks_max)))
    return out


def cpu_ranges(cpus: tuple[int, ...]) -> str:
    """cpu_set_to_range_string(): 0-3,5."""
    parts: list[str] = []
    start = prev = None
    for cpu in sorted(cpus):
        if prev is not None and cpu == prev + 1:
            prev = cpu
            continue
        if start is not None:
            parts.append(str(start) if start == prev else f"{start}-{prev}")
        start = prev = cpu
    if start is not None:
        parts.append(str(start) if start == prev else f"{start}-{prev}")
    return ",".join(parts)


def write(directory: str, w: Write, log: logging.Logger | logging.LoggerAdapter[logging.Logger], unit: str,
          cgroup: str) -> bool:
    """One attribute, as set_attribute_and_warn(): failures are logged, never fatal."""
    try:
        with open(os.path.join(directory, w.file), "w") as f:
            f.write(w.value + "\n")
        return True
    except OSError as e:
        if w.file == "cpu.idle" and e.errno == errno.ENOENT and w.value == "0":
            return False  # kernels before 5.15 have no cpu.idle; not idle is what they do anyway
        level = logging.DEBUG if e.errno in _QUIET else logging.WARNING
        log.log(level, "%s: Failed to set '%s' attribute on '%s' to '%s': %s", unit, w.file, cgroup or "/",
                w.value, e.strerror)
        return False
