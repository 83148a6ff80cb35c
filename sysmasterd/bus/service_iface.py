"""org.freedesktop.systemd1.Service over a unit whose type implementation is units.service.Service."""

from __future__ import annotations

import os
import resource
from typing import TYPE_CHECKING, Any

import psutil

from compat.model import (
    CGroupContext,
    ExecCommand,
    ExecContext,
    ExecFlag,
    ExitStatusSet,
    KillContext,
    ServiceSection,
    ServiceType,
)
from sysmasterd.bus import accounting
from sysmasterd.bus.configmap import config_getter
from sysmasterd.bus.defaults import UINT64_MAX
from sysmasterd.bus.iface import Getter, Interface, method, neutral_value, prop
from sysmasterd.core.control import ExecStatus
from sysmasterd.units.service import EXEC_KINDS, Service

if TYPE_CHECKING:
    from sysmasterd.bus.router import Call
    from sysmasterd.core.unit import Unit

_RLIMIT_NAMES = ("CPU", "FSIZE", "DATA", "STACK", "CORE", "RSS", "NOFILE", "AS", "NPROC", "MEMLOCK", "LOCKS",
                 "SIGPENDING", "MSGQUEUE", "NICE", "RTPRIO", "RTTIME")
_FLAG_WORDS = ((ExecFlag.IGNORE_FAILURE, "ignore-failure"), (ExecFlag.FULL_PRIVILEGES, "privileged"),
               (ExecFlag.NO_SETUID, "no-setuid"), (ExecFlag.AMBIENT_PRIVILEGES, "ambient"),
               (ExecFlag.NO_ENV_EXPAND, "no-env-expand"))


def _impl(u: Unit) -> Service | None:
    return u.impl if isinstance(u.impl, Service) else None


def _service(u: Unit) -> ServiceSection | None:
    return u.config.service if u.config is not None else None


def _exec(u: Unit) -> ExecContext | None:
    return u.config.exec if u.config is not None else None


def _kill(u: Unit) -> KillContext | None:
    return u.config.kill if u.config is not None else None


def _cgroup(u: Unit) -> CGroupContext | None:
    return u.config.cgroup if u.config is not None else None


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


def _exit_status_set(s: ExitStatusSet) -> list[list[int]]:
    return [sorted(s.statuses), sorted(s.signals)]


def _runtime(impl: Service | None, kind: str, index: int) -> ExecStatus:
    if impl is None:
        return ExecStatus()
    runs = impl.exec_status.get(kind, [])
    return runs[index] if index < len(runs) else ExecStatus()


def _exec_rows(u: Unit, kind: str, extended: bool) -> list[list[Any]]:
    impl = _impl(u)
    section = _service(u)
    if section is None:
        return []
    cmds: list[ExecCommand] = getattr(section, _EXEC_FIELDS[kind])
    rows = []
    for i, cmd in enumerate(cmds):
        rt = _runtime(impl, kind, i)
        flags: Any
        if extended:
            flags = [word for flag, word in _FLAG_WORDS if cmd.flags & flag]
        else:
            flags = cmd.ignore_failure
        rows.append([cmd.path, list(cmd.argv), flags, *rt.to_list()])
    return rows


_EXEC_FIELDS = {k: "exec_" + k[4:].lower().replace("startpre", "start_pre").replace("startpost", "start_post")
                .replace("stoppost", "stop_post") for k in EXEC_KINDS}


def _pids(u: Unit) -> list[int]:
    """The unit's processes: its cgroup's, or main and control processes with their descendants."""
    impl = _impl(u)
    if impl is None:
        return []
    roots = [p for p in (impl.main_pid(), impl.control_pid()) if p]
    if not roots and not (u.manager.cgroups is not None and u.manager.cgroups.enabled):
        return []
    return u.manager.runtime.unit_pids(u, roots)


def unit_processes(u: Unit) -> list[list[Any]]:
    """a(sus): cgroup, PID, command line, as GetUnitProcesses answers."""
    rows = []
    for pid in _pids(u):
        try:
            cmdline = " ".join(psutil.Process(pid).cmdline())
        except psutil.Error:
            continue
        rows.append([control_group(u), pid, cmdline])
    return rows


def control_group(u: Unit) -> str:
    """The unit's cgroup while it exists (systemd reports none for a unit that never ran)."""
    cgroups = u.manager.cgroups
    if cgroups is None or not cgroups.enabled or not os.path.isdir(cgroups.root.unit_dir(u.id)):
        return ""
    return cgroups.root.unit_path(u.id)


class ServiceInterface(Interface):
    name = "org.freedesktop.systemd1.Service"

    def fallback_getter(self, name: str, signature: str) -> Getter:
        if name in _EXEC_FIELDS:
            return lambda u: _exec_rows(u, name, extended=False)
        if name.endswith("Ex") and name[:-2] in _EXEC_FIELDS:
            return lambda u: _exec_rows(u, name[:-2], extended=True)
        if name.startswith("Limit"):
            stem = name[5:].removesuffix("Soft")
            if stem in _RLIMIT_NAMES:
                return self.from_config(name, _limit_getter(stem, soft=name.endswith("Soft")))
        sections = [(ServiceSection, _service), (ExecContext, _exec), (KillContext, _kill),
                    (CGroupContext, _cgroup)]
        found = config_getter(name, signature, sections, neutral_value(name, signature))
        return self.from_config(name, found) if found else super().fallback_getter(name, signature)

    def config_key(self, target: Any) -> object | None:
        return target.config

    @method("GetProcesses")
    def get_processes(self, call: Call, u: Unit) -> list[list[Any]]:
        return unit_processes(u)

    @prop("TimeoutStartUSec")
    def timeout_start(self, u: Unit) -> int:
        return self._timeout(u, "start")

    @prop("TimeoutStopUSec")
    def timeout_stop(self, u: Unit) -> int:
        return self._timeout(u, "stop")

    @prop("TimeoutAbortUSec")
    def timeout_abort(self, u: Unit) -> int:
        return self._timeout(u, "abort")

    @prop("RestartUSec")
    def restart(self, u: Unit) -> int:
        impl = _impl(u)
        return impl.restart_usec() if impl is not None else u.manager.settings.default_restart_usec

    @staticmethod
    def _timeout(u: Unit, which: str) -> int:
        """What the service waits, with the manager's DefaultTimeout*Sec= filled in; no timeout
        (0 inside the core) is infinity on the bus, as systemd shows it."""
        impl = _impl(u)
        usec = impl.timeout_usec(which) if impl is not None else 0
        return usec if usec else UINT64_MAX

    @prop("Type")
    def type(self, u: Unit) -> str:
        impl = _impl(u)
        return impl.type.value if impl is not None else ServiceType.SIMPLE.value

    @prop("NotifyAccess")
    def notify_access(self, u: Unit) -> str:
        impl = _impl(u)
        return impl.notify_access.value if impl is not None else "none"

    @prop("MainPID")
    def main_pid(self, u: Unit) -> int:
        impl = _impl(u)
        return impl.main_pid() if impl is not None else 0

    @prop("ControlPID")
    def control_pid(self, u: Unit) -> int:
        impl = _impl(u)
        return impl.control_pid() if impl is not None else 0

    @prop("Result")
    def result(self, u: Unit) -> str:
        impl = _impl(u)
        return impl.result() if impl is not None else "success"

    @prop("ReloadResult")
    def reload_result(self, u: Unit) -> str:
        impl = _impl(u)
        return impl.reload_result.value if impl is not None else "success"

    @prop("CleanResult")
    def clean_result(self, u: Unit) -> str:
        return "success"

    @prop("StatusText")
    def status_text(self, u: Unit) -> str:
        impl = _impl(u)
        return impl.status_text if impl is not None else ""

    @prop("StatusErrno")
    def status_errno(self, u: Unit) -> int:
        impl = _impl(u)
        return impl.status_errno if impl is not None else 0

    @prop("NRestarts")
    def n_restarts(self, u: Unit) -> int:
        impl = _impl(u)
        return impl.n_restarts if impl is not None else 0

    @prop("ExecMainPID")
    def exec_main_pid(self, u: Unit) -> int:
        impl = _impl(u)
        return impl.main_exec.pid if impl is not None else 0

    @prop("ExecMainCode")
    def exec_main_code(self, u: Unit) -> int:
        impl = _impl(u)
        return impl.main_exec.code if impl is not None else 0

    @prop("ExecMainStatus")
    def exec_main_status(self, u: Unit) -> int:
        impl = _impl(u)
        return impl.main_exec.status if impl is not None else 0

    @prop("ExecMainStartTimestamp")
    def exec_main_start(self, u: Unit) -> int:
        impl = _impl(u)
        return impl.main_exec.start.realtime if impl is not None else 0

    @prop("ExecMainStartTimestampMonotonic")
    def exec_main_start_mono(self, u: Unit) -> int:
        impl = _impl(u)
        return impl.main_exec.start.monotonic if impl is not None else 0

    @prop("ExecMainExitTimestamp")
    def exec_main_exit(self, u: Unit) -> int:
        impl = _impl(u)
        return impl.main_exec.exit.realtime if impl is not None else 0

    @prop("ExecMainExitTimestampMonotonic")
    def exec_main_exit_mono(self, u: Unit) -> int:
        impl = _impl(u)
        return impl.main_exec.exit.monotonic if impl is not None else 0

    @prop("RestartPreventExitStatus")
    def restart_prevent(self, u: Unit) -> list[list[int]]:
        s = _service(u)
        return _exit_status_set(s.restart_prevent_exit_status) if s is not None else [[], []]

    @prop("RestartForceExitStatus")
    def restart_force(self, u: Unit) -> list[list[int]]:
        s = _service(u)
        return _exit_status_set(s.restart_force_exit_status) if s is not None else [[], []]

    @prop("SuccessExitStatus")
    def success_status(self, u: Unit) -> list[list[int]]:
        s = _service(u)
        return _exit_status_set(s.success_exit_status) if s is not None else [[], []]

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

    @prop("RestartKillSignal")
    def restart_kill_signal(self, u: Unit) -> int:
        k = _kill(u)
        if k is None:
            return 15
        return k.restart_kill_signal if k.restart_kill_signal is not None else k.kill_signal

    @prop("ControlGroup")
    def control_group(self, u: Unit) -> str:
        return control_group(u)

    @prop("Slice")
    def slice(self, u: Unit) -> str:
        c = _cgroup(u)
        return c.slice if c is not None and c.slice else ""

    @prop("MemoryCurrent")
    def memory_current(self, u: Unit) -> int:
        return accounting.usage(u, _pids).memory

    @prop("CPUUsageNSec")
    def cpu_usage(self, u: Unit) -> int:
        return accounting.usage(u, _pids).cpu_nsec

    @prop("TasksCurrent")
    def tasks_current(self, u: Unit) -> int:
        return accounting.usage(u, _pids).tasks

    @prop("TasksMax")
    def tasks_max(self, u: Unit) -> int:
        c = _cgroup(u)
        return c.tasks_max if c is not None and c.tasks_max is not None else UINT64_MAX

    @prop("MemoryMax")
    def memory_max(self, u: Unit) -> int:
        c = _cgroup(u)
        return c.memory_max if c is not None and c.memory_max is not None else UINT64_MAX

    @prop("CPUAffinity")
    def cpu_affinity(self, u: Unit) -> bytes:
        ctx = _exec(u)
        mask = 0
        for cpu in ctx.cpu_affinity if ctx is not None else []:
            mask |= 1 << cpu
        return mask.to_bytes((mask.bit_length() + 7) // 8, "little") if mask else b""

    @prop("WorkingDirectory")
    def working_directory(self, u: Unit) -> str:
        ctx = _exec(u)
        if ctx is None or ctx.working_directory is None:
            return ""
        return ("!" if ctx.working_directory_missing_ok else "") + ctx.working_directory
