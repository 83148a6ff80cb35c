"""MemoryCurrent, TasksCurrent and CPUUsageNSec of a unit.

From the unit's cgroup v2 files where the kernel provides them (memory.current and pids.current
need their controllers enabled for our subtree; cpu.stat is always there), or from its cgroups in
the v1 controller hierarchies (memory.usage_in_bytes, pids.current, cpuacct.usage), else from the /proc
files of the unit's processes, read directly (psutil objects cost more than the reads, and
GetAll asks every time). The cgroup counts what the processes cannot: CPU time of children that
already exited, page cache charged to the unit. UINT64_MAX (systemctl hides the line) when the
unit has neither a cgroup nor processes.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sysmasterd.bus.defaults import UINT64_MAX

if TYPE_CHECKING:
    from sysmasterd.core.unit import Unit

Pids = Callable[["Unit"], list[int]]

_PAGE = os.sysconf("SC_PAGE_SIZE")
_HZ = os.sysconf("SC_CLK_TCK")


def cgroup_dir(u: Unit) -> str | None:
    """The unit's cgroup v2 directory while it exists."""
    cgroups = u.manager.cgroups
    if cgroups is None or cgroups.root.mode != "v2":
        return None
    path = cgroups.unit_dir(u.id)
    return path if os.path.isdir(path) else None


def read_counter(directory: str, name: str) -> int | None:
    """A single-number cgroup file (memory.current, pids.current), None when absent."""
    try:
        with open(os.path.join(directory, name)) as f:
            return int(f.read())
    except (OSError, ValueError):
        return None


def read_cpu_usage_usec(directory: str) -> int | None:
    """usage_usec of cpu.stat, None when absent."""
    try:
        with open(os.path.join(directory, "cpu.stat")) as f:
            for line in f:
                key, _, value = line.partition(" ")
                if key == "usage_usec":
                    return int(value)
    except (OSError, ValueError):
        pass
    return None


def _proc_stat_fields(pid: int) -> list[str]:
    """/proc/PID/stat after the command name (which may hold spaces): state is [0]."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        return f.read().rpartition(b")")[2].decode().split()


def _rss(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/statm", "rb") as f:
                total += int(f.read().split()[1]) * _PAGE
        except (OSError, ValueError, IndexError):
            continue
    return total


def _threads(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            total += int(_proc_stat_fields(pid)[17])  # num_threads, field 20 of stat(5)
        except (OSError, ValueError, IndexError):
            continue
    return total


def _cpu_nsec(pids: list[int]) -> int:
    ticks = 0
    for pid in pids:
        try:
            fields = _proc_stat_fields(pid)
            ticks += int(fields[11]) + int(fields[12])  # utime, stime: fields 14, 15 of stat(5)
        except (OSError, ValueError, IndexError):
            continue
    return ticks * 1_000_000_000 // _HZ


@dataclass(frozen=True)
class Usage:
    memory: int
    tasks: int
    cpu_nsec: int


def _v1_counter(u: Unit, controller: str, name: str) -> int | None:
    """A counter of the unit's cgroup in a v1 controller hierarchy (hybrid and legacy hosts)."""
    cgroups = u.manager.cgroups
    directory = cgroups.controller_dir(u.id, controller) if cgroups is not None else None
    return read_counter(directory, name) if directory else None


def measure(u: Unit, pids: Pids) -> Usage:
    directory = cgroup_dir(u)
    memory = read_counter(directory, "memory.current") if directory else None
    tasks = read_counter(directory, "pids.current") if directory else None
    usec = read_cpu_usage_usec(directory) if directory else None
    cpu = usec * 1000 if usec is not None else None
    if memory is None:  # systemd 252 reports usage_in_bytes (page cache included) on v1
        memory = _v1_counter(u, "memory", "memory.usage_in_bytes")
    if tasks is None:
        tasks = _v1_counter(u, "pids", "pids.current")
    if cpu is None:
        cpu = _v1_counter(u, "cpuacct", "cpuacct.usage")  # nanoseconds already
    if memory is None or tasks is None or cpu is None:
        found = pids(u)
        if memory is None:
            memory = _rss(found) if found else UINT64_MAX
        if tasks is None:
            tasks = _threads(found) if found else UINT64_MAX
        if cpu is None:
            cpu = _cpu_nsec(found) if found else UINT64_MAX
    return Usage(memory, tasks, cpu)


class _TurnMemo:
    """Usage per unit, measured at most once per event-loop turn: GetAll reads all three
    counters of a unit, and each would otherwise walk its cgroup and /proc again."""

    def __init__(self) -> None:
        self._values: dict[str, Usage] = {}

    def get(self, u: Unit, pids: Pids) -> Usage:
        found = self._values.get(u.id)
        if found is not None:
            return found
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return measure(u, pids)  # no loop, no turns: nothing to share
        if not self._values:
            loop.call_soon(self._values.clear)
        value = self._values[u.id] = measure(u, pids)
        return value


usage = _TurnMemo().get
