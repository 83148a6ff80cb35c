"""The properties of the settings blocks several unit types share (systemd's exec, kill and cgroup
contexts): mixins that each type's interface combines as its descriptor's contexts say. A property
none of them provides explicitly is read from the config field of the same name."""

from __future__ import annotations

import os
import resource
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, ClassVar

import psutil

from compat.config_exec import CONTROLLERS
from compat.model import CGroupContext, ExecCommand, ExecContext, ExecFlag, KillContext
from sysmasterd.bus import accounting, sandbox_props
from sysmasterd.bus.configmap import config_getter
from sysmasterd.bus.defaults import UINT64_MAX
from sysmasterd.bus.iface import Getter, Interface, method, neutral_value, prop
from sysmasterd.core.control import ExecStatus

if TYPE_CHECKING:
    from sysmasterd.bus.router import Call
    from sysmasterd.core.unit import Unit

Section = Callable[[Any], Any]
Sections = tuple[tuple[type, Section], ...]
_RLIMIT_NAMES = ("CPU", "FSIZE", "DATA", "STACK", "CORE", "RSS", "NOFILE", "AS", "NPROC", "MEMLOCK", "LOCKS",
                 "SIGPENDING", "MSGQUEUE", "NICE", "RTPRIO", "RTTIME")


def _ip_counter(u: Unit, ingress: bool, which: int) -> int:
    """IPAccounting='s counters from the unit's BPF maps; UINT64_MAX where nothing counts."""
    cgroups = u.manager.cgroups
    counted = cgroups.ip_counters(u.id, ingress) if cgroups is not None else None
    return counted[which] if counted is not None else UINT64_MAX


def _exec(u: Unit) -> ExecContext | None:
    return u.config.exec if u.config is not None else None


def _kill(u: Unit) -> KillContext | None:
    return u.config.kill if u.config is not None else None


def _cgroup(u: Unit) -> CGroupContext | None:
    return u.config.cgroup if u.config is not None else None


class ConfigInterface(Interface):
    """An interface over a unit whose unset properties map onto config sections: each class in
    the hierarchy names its own in ``own_sections``."""

    own_sections: ClassVar[Sections] = ()

    def sections(self) -> Sections:
        return tuple(s for cls in type(self).__mro__ for s in cls.__dict__.get("own_sections", ()))

    def fallback_getter(self, name: str, signature: str) -> Getter:
        found = config_getter(name, signature, self.sections(), neutral_value(name, signature))
        return self.from_config(name, found) if found else super().fallback_getter(name, signature)

    def config_key(self, target: Any) -> object | None:
        return target.config


def _limit_getter(name: str, soft: bool) -> Getter:
    def get(u: Unit) -> int:
        ctx = _exec(u)
        configured = ctx.limits.get(name) if ctx is not None else None
        if configured is None:  # the manager's DefaultLimit*=, as services get it
            configured = u.manager.settings.default_limits.get(name)
        if configured is not None:
            value = configured.soft if soft else configured.hard
        else:
            res = getattr(resource, f"RLIMIT_{name}", None)
            if res is None:
                return UINT64_MAX
            cur = resource.getrlimit(res)
            value = cur[0] if soft else cur[1]
        return UINT64_MAX if value == resource.RLIM_INFINITY else value

    return get


_FLAG_WORDS = ((ExecFlag.IGNORE_FAILURE, "ignore-failure"), (ExecFlag.FULL_PRIVILEGES, "privileged"),
               (ExecFlag.NO_SETUID, "no-setuid"), (ExecFlag.AMBIENT_PRIVILEGES, "ambient"),
               (ExecFlag.NO_ENV_EXPAND, "no-env-expand"))


def exec_command_rows(cmds: list[ExecCommand], runs: list[ExecStatus], extended: bool) -> list[list[Any]]:
    """An Exec*= property, a(sasbttttuii) (or a(sasasttttuii) for its *Ex twin): each command with
    the runtime record of its last run, as every type with commands shows them."""
    rows = []
    for i, cmd in enumerate(cmds):
        rt = runs[i] if i < len(runs) else ExecStatus()
        flags: Any = [word for flag, word in _FLAG_WORDS if cmd.flags & flag] if extended else cmd.ignore_failure
        rows.append([cmd.path, list(cmd.argv), flags, *rt.to_list()])
    return rows


class ExecProperties(ConfigInterface):
    own_sections: ClassVar[Sections] = ((ExecContext, _exec),)

    def fallback_getter(self, name: str, signature: str) -> Getter:
        if (sandbox := sandbox_props.EXEC_PROPERTIES.get(name)) is not None:
            return self.from_config(name, lambda u: sandbox(u.config.exec) if u.config is not None
                                    else neutral_value(name, signature))
        if name.startswith("Limit"):
            stem = name[5:].removesuffix("Soft")
            if stem in _RLIMIT_NAMES:
                return self.from_config(name, _limit_getter(stem, soft=name.endswith("Soft")))
        return super().fallback_getter(name, signature)

    @prop("Environment")
    def environment(self, u: Unit) -> list[str]:
        ctx = _exec(u)
        return [f"{k}={v}" for k, v in ctx.environment.items()] if ctx is not None else []

    @prop("EnvironmentFiles")
    def environment_files(self, u: Unit) -> list[list[Any]]:
        ctx = _exec(u)
        return [[f.path, f.optional] for f in ctx.environment_files] if ctx is not None else []

    @prop("UMask")
    def umask(self, u: Unit) -> int:
        ctx = _exec(u)
        return ctx.umask if ctx is not None else 0o022

    @prop("CPUAffinity")
    def cpu_affinity(self, u: Unit) -> bytes:
        ctx = _exec(u)
        return cpu_set_bytes(ctx.cpu_affinity if ctx is not None else [])

    # Unset, systemd shows the effective value: the kernel's default, best-effort at level 4.
    @prop("IOSchedulingClass")
    def io_scheduling_class(self, u: Unit) -> int:
        ctx = _exec(u)
        return ctx.io_scheduling_class.value if ctx is not None and ctx.io_scheduling_class is not None else 2

    @prop("IOSchedulingPriority")
    def io_scheduling_priority(self, u: Unit) -> int:
        ctx = _exec(u)
        return ctx.io_scheduling_priority if ctx is not None and ctx.io_scheduling_priority is not None else 4

    @prop("WorkingDirectory")
    def working_directory(self, u: Unit) -> str:
        ctx = _exec(u)
        if ctx is None or ctx.working_directory is None:
            return ""
        return ("!" if ctx.working_directory_missing_ok else "") + ctx.working_directory

    @prop("SyslogLevel")
    def syslog_level(self, u: Unit) -> int:
        ctx = _exec(u)
        return (ctx.syslog_priority if ctx is not None else ExecContext.syslog_priority) & 7

    @prop("SyslogFacility")
    def syslog_facility(self, u: Unit) -> int:
        ctx = _exec(u)
        return (ctx.syslog_priority if ctx is not None else ExecContext.syslog_priority) >> 3

    @prop("LogExtraFields")
    def log_extra_fields(self, u: Unit) -> list[bytes]:
        ctx = _exec(u)
        return [f.encode() for f in ctx.log_extra_fields] if ctx is not None else []


class KillProperties(ConfigInterface):
    own_sections: ClassVar[Sections] = ((KillContext, _kill),)

    @prop("RestartKillSignal")
    def restart_kill_signal(self, u: Unit) -> int:
        k = _kill(u)
        if k is None:
            return 15
        return k.restart_kill_signal if k.restart_kill_signal is not None else k.kill_signal


def cpu_set_bytes(cpus: Iterable[int]) -> bytes:
    """A CPU set as systemd's cpu_set_to_dbus(): a little-endian bit mask, b"" when empty."""
    mask = 0
    for cpu in cpus:
        mask |= 1 << cpu
    return mask.to_bytes((mask.bit_length() + 7) // 8, "little") if mask else b""


def _io_limit_rows(column: int) -> Callable[[Any, Unit], list[list[Any]]]:
    """IO*Max=: (device, limit) for each device, UINT64_MAX where that column is unset."""

    def get(_iface: Any, u: Unit) -> list[list[Any]]:
        c = _cgroup(u)
        return [[path, row[column]] for path, row in c.io_device_limits.items()] if c is not None else []

    return get


def unit_pids(u: Unit) -> list[int]:
    """The unit's processes: its cgroup's, or its tracked processes with their descendants."""
    roots = [p for p in u.impl.pids().values() if p] if u.impl is not None else []
    if not roots and not (u.manager.cgroups is not None and u.manager.cgroups.enabled):
        return []
    return u.manager.runtime.unit_pids(u, roots)


def unit_processes(u: Unit) -> list[list[Any]]:
    """a(sus): cgroup, PID, command line, as GetUnitProcesses answers."""
    rows = []
    for pid in unit_pids(u):
        try:
            cmdline = " ".join(psutil.Process(pid).cmdline())
        except psutil.Error:
            continue
        rows.append([control_group(u), pid, cmdline])
    return rows


def control_group(u: Unit) -> str:
    """The unit's cgroup while it exists (systemd reports none for a unit that never ran)."""
    cgroups = u.manager.cgroups
    if cgroups is None or not cgroups.enabled or not os.path.isdir(cgroups.unit_dir(u.id)):
        return ""
    return cgroups.unit_path(u.id)


class CGroupProperties(ConfigInterface):
    own_sections: ClassVar[Sections] = ((CGroupContext, _cgroup),)

    def fallback_getter(self, name: str, signature: str) -> Getter:
        if (access := sandbox_props.CGROUP_PROPERTIES.get(name)) is not None:
            return self.from_config(name, lambda u: access(u.config.cgroup, u.config.exec) if u.config is not None
                                    else neutral_value(name, signature))
        return super().fallback_getter(name, signature)

    @method("GetProcesses")
    def get_processes(self, call: Call, u: Unit) -> list[list[Any]]:
        return unit_processes(u)

    @prop("ControlGroup")
    def control_group(self, u: Unit) -> str:
        return control_group(u)

    @prop("Slice")
    def slice(self, u: Unit) -> str:
        return u.slice_name() or ""

    @prop("MemoryCurrent")
    def memory_current(self, u: Unit) -> int:
        return accounting.usage(u, unit_pids).memory

    @prop("CPUUsageNSec")
    def cpu_usage(self, u: Unit) -> int:
        return accounting.usage(u, unit_pids).cpu_nsec

    @prop("TasksCurrent")
    def tasks_current(self, u: Unit) -> int:
        return accounting.usage(u, unit_pids).tasks

    @prop("DelegateControllers")
    def delegate_controllers(self, u: Unit) -> list[str]:
        c = _cgroup(u)
        if c is None or not c.delegate:
            return []
        named = CONTROLLERS if c.delegate_controllers is None else c.delegate_controllers
        return [name for name in CONTROLLERS if name in named]

    @prop("IPIngressBytes")
    def ip_ingress_bytes(self, u: Unit) -> int:
        return _ip_counter(u, True, 0)

    @prop("IPIngressPackets")
    def ip_ingress_packets(self, u: Unit) -> int:
        return _ip_counter(u, True, 1)

    @prop("IPEgressBytes")
    def ip_egress_bytes(self, u: Unit) -> int:
        return _ip_counter(u, False, 0)

    @prop("IPEgressPackets")
    def ip_egress_packets(self, u: Unit) -> int:
        return _ip_counter(u, False, 1)

    @prop("TasksMax")
    def tasks_max(self, u: Unit) -> int:
        c = _cgroup(u)
        return c.tasks_max if c is not None and c.tasks_max is not None else UINT64_MAX

    @prop("MemoryMax")
    def memory_max(self, u: Unit) -> int:
        c = _cgroup(u)
        return c.memory_max if c is not None and c.memory_max is not None else UINT64_MAX

    @prop("AllowedCPUs")
    def allowed_cpus(self, u: Unit) -> bytes:
        c = _cgroup(u)
        return cpu_set_bytes(c.allowed_cpus if c is not None else ())

    @prop("IODeviceWeight")
    def io_device_weight(self, u: Unit) -> list[list[Any]]:
        c = _cgroup(u)
        return [[path, weight] for path, weight in c.io_device_weights] if c is not None else []

    io_read_bandwidth_max = prop("IOReadBandwidthMax")(_io_limit_rows(0))
    io_write_bandwidth_max = prop("IOWriteBandwidthMax")(_io_limit_rows(1))
    io_read_iops_max = prop("IOReadIOPSMax")(_io_limit_rows(2))
    io_write_iops_max = prop("IOWriteIOPSMax")(_io_limit_rows(3))

