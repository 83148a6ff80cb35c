"""org.freedesktop.systemd1.Manager over sysmasterd.core.manager.Manager."""

from __future__ import annotations

import logging
import platform
import signal
from typing import TYPE_CHECKING, Any

from compat import unitname
from compat.model import JobMode
from compat.search_path import control_dir
from sysmasterd.bus import actions, errors, markers, unitprops
from sysmasterd.bus.dump_methods import DumpMethods
from sysmasterd.bus.fairness import check_items
from sysmasterd.bus.iface import Getter, Interface, method, prop, setter
from sysmasterd.bus.listing import blocked_by, job_row, matches, unit_row, waiting_for
from sysmasterd.bus.logcontrol_iface import LogSettings
from sysmasterd.bus.lookup_methods import LookupMethods
from sysmasterd.bus.maintenance_methods import MaintenanceMethods
from sysmasterd.bus.misc_methods import MiscMethods
from sysmasterd.bus.paths import unit_path
from sysmasterd.bus.subscriptions import Subscriptions
from sysmasterd.bus.transient_methods import TransientMethods
from sysmasterd.bus.unitfiles import UnitFileMethods
from sysmasterd.core.states import JobType
from sysmasterd.core.unittype import KillWho

if TYPE_CHECKING:
    from sysmasterd.bus.router import Call
    from sysmasterd.core.manager import Manager
    from sysmasterd.core.unit import Unit

log = logging.getLogger(__name__)

VERSION = "252"
FEATURES = "-PAM -AUDIT -SELINUX -APPARMOR -IMA -SMACK -SECCOMP -GCRYPT -GNUTLS -OPENSSL -ACL"

_ARCH = {"x86_64": "x86-64", "aarch64": "arm64", "i686": "x86", "riscv64": "riscv64", "ppc64le": "ppc64-le"}
_KILL_WHOM = ("main", "control", "all")
# Manager timestamp properties, by the key of Manager.ts holding them.
_TIMESTAMPS = {"Userspace": "startup", "Finish": "finish", "UnitsLoadStart": "units_load_start",
               "UnitsLoadFinish": "units_load_finish", "InitRD": "initrd"}


def job_mode(mode: str) -> JobMode:
    try:
        return JobMode(mode)
    except ValueError:
        raise errors.invalid_args(f"Job mode {mode} invalid.") from None


def check_name(name: str) -> None:
    if not unitname.is_valid(name):
        raise errors.invalid_args(f"Unit name {name} is not valid.")


class ManagerInterface(UnitFileMethods, TransientMethods, DumpMethods, LookupMethods, MaintenanceMethods, MiscMethods,
                       Interface):
    name = "org.freedesktop.systemd1.Manager"

    def __init__(self, manager: Manager, subscriptions: Subscriptions) -> None:
        self.manager = manager
        self.subscriptions = subscriptions
        self.log = LogSettings()
        super().__init__()

    # --- helpers shared with the Unit interface ---------------------------------------------

    def unit(self, name: str) -> Unit:
        """The unit of a valid name, loaded on demand (systemd's GetUnit-or-load)."""
        check_name(name)
        return self.manager.load_unit(name)

    async def enqueue(self, call: Call, name: str, job_type: JobType, mode: str, reload_or: bool = False) -> str:
        """Authorized before the unit is even loaded: a denied caller costs no work."""
        check_name(name)
        mode_value = job_mode(mode)
        await call.authorize(actions.MANAGE_UNITS)
        if reload_or:
            job_type = self.reload_or(self.unit(name), job_type)
        job = self.manager.engine.add_job(name, job_type, mode_value)
        return job.path

    def reload_or(self, u: Unit, job_type: JobType) -> JobType:
        if not u.can_reload():
            return job_type
        return JobType.RELOAD_OR_START if job_type is JobType.RESTART else JobType.TRY_RELOAD

    async def kill(self, call: Call, name: str, whom: str, signo: int) -> None:
        check_name(name)
        if whom not in ("", *_KILL_WHOM):
            raise errors.invalid_args(f"Invalid who argument {whom}")
        if not 0 < signo < signal.NSIG:
            raise errors.invalid_args(f"Signal number out of range: {signo}")
        await call.authorize(actions.MANAGE_UNITS)
        u = self.unit(name)
        who = KillWho(whom or "all")
        if not u.kill(who, signo) and who is not KillWho.ALL:
            raise errors.bus_error(errors.NO_SUCH_PROCESS, f"No {who.value} process to kill")

    async def reset_failed_unit(self, call: Call, name: str) -> None:
        check_name(name)
        await call.authorize(actions.MANAGE_UNITS)
        self.manager.reset_failed(name)

    async def set_unit_properties(self, call: Call, name: str, runtime: bool, props: list[Any]) -> None:
        check_name(name)
        await call.authorize(actions.MANAGE_UNITS)
        check_items(len(props), "properties")
        u = self.unit(name)
        marker_changes, props = markers.split(props)
        assignments = unitprops.check(u, props, self.manager.loader.facts)
        for change in marker_changes:
            change(u)
        if not assignments:
            if marker_changes:
                u.notify_changed()
            return
        paths = self.manager.loader.paths
        config_dir = paths.runtime_config if runtime else paths.persistent_config
        if config_dir is None:
            raise errors.bus_error(errors.FAILED, "Runtime directory is not available ($XDG_RUNTIME_DIR unset).")
        try:
            control = control_dir(config_dir)
            unitprops.apply(u, assignments, control)
        except OSError as e:
            raise errors.bus_error(errors.FAILED, f"Failed to write drop-in: {e.filename}: {e.strerror}") from None
        self.manager.loader.map.note_created(control, u.id + ".d")
        u.notify_changed()

    # --- properties ----------------------------------------------------------------------------

    @prop("Version")
    def version(self, m: Manager) -> str:
        return VERSION

    @prop("Features")
    def features(self, m: Manager) -> str:
        return FEATURES

    @prop("Architecture")
    def architecture(self, m: Manager) -> str:
        machine = platform.machine()
        return _ARCH.get(machine, machine)

    @prop("NNames")
    def n_names(self, m: Manager) -> int:
        return len(m.units)

    @prop("NFailedUnits")
    def n_failed(self, m: Manager) -> int:
        return m.n_failed_units()

    @prop("NJobs")
    def n_jobs(self, m: Manager) -> int:
        return len(m.engine.jobs)

    @prop("Progress")
    def progress(self, m: Manager) -> float:
        return 1.0

    @prop("Environment")
    def environment(self, m: Manager) -> list[str]:
        return [f"{k}={v}" for k, v in m.environment.items()]

    @prop("SystemState")
    def system_state(self, m: Manager) -> str:
        return m.system_state()

    @prop("DefaultStandardOutput")
    def default_stdout(self, m: Manager) -> str:
        return m.settings.default_standard_output.value

    @prop("DefaultStandardError")
    def default_stderr(self, m: Manager) -> str:
        return m.settings.default_standard_error.value

    def fallback_getter(self, name: str, signature: str) -> Getter:
        for prop_stem, key in _TIMESTAMPS.items():
            if name in (f"{prop_stem}Timestamp", f"{prop_stem}TimestampMonotonic"):
                monotonic = name.endswith("Monotonic")
                return lambda m: m.ts[key].monotonic if monotonic else m.ts[key].realtime
        return super().fallback_getter(name, signature)

    @prop("UnitPath")
    def unit_path_prop(self, m: Manager) -> list[str]:
        return list(m.settings.unit_path or [])

    @prop("LogLevel")
    def get_log_level(self, m: Manager) -> str:
        return self.log.level

    @setter("LogLevel")
    async def set_log_level(self, call: Call, m: Manager, value: str) -> None:
        await self.log.set_level(call, value)

    @prop("LogTarget")
    def get_log_target(self, m: Manager) -> str:
        return self.log.target

    @setter("LogTarget")
    async def set_log_target(self, call: Call, m: Manager, value: str) -> None:
        await self.log.set_target(call, value)

    @prop("DefaultTimeoutStartUSec")
    def default_timeout_start(self, m: Manager) -> int:
        return m.settings.default_timeout_start_usec

    @prop("DefaultTimeoutStopUSec")
    def default_timeout_stop(self, m: Manager) -> int:
        return m.settings.default_timeout_stop_usec

    @prop("DefaultTimeoutAbortUSec")
    def default_timeout_abort(self, m: Manager) -> int:
        abort = m.settings.default_timeout_abort_usec
        return abort if abort is not None else m.settings.default_timeout_stop_usec

    @prop("DefaultRestartUSec")
    def default_restart(self, m: Manager) -> int:
        return m.settings.default_restart_usec

    @prop("DefaultOOMPolicy")
    def default_oom_policy(self, m: Manager) -> str:
        return m.settings.default_oom_policy.value

    @prop("DefaultStartLimitIntervalUSec")
    def default_start_limit_interval(self, m: Manager) -> int:
        return m.settings.default_start_limit_interval_usec

    @prop("DefaultStartLimitBurst")
    def default_start_limit_burst(self, m: Manager) -> int:
        return m.settings.default_start_limit_burst

    # --- units ---------------------------------------------------------------------------------

    @method("GetUnit")
    def get_unit(self, call: Call, m: Manager, name: str) -> str:
        check_name(name)
        u = m.get_unit(name)
        if u is None:
            raise errors.bus_error(errors.NO_SUCH_UNIT, f"Unit {name} not loaded.")
        return unit_path(u.id)

    @method("LoadUnit")
    def load_unit(self, call: Call, m: Manager, name: str) -> str:
        return unit_path(self.unit(name).id)

    @method("GetUnitByPID")
    def get_unit_by_pid(self, call: Call, m: Manager, pid: int) -> str:
        u = m.runtime.unit_of_pid(pid or (call.conn.peer_pid or 0))
        if u is None:
            raise errors.bus_error(errors.NO_UNIT_FOR_PID, f"PID {pid} does not belong to any loaded unit.")
        return unit_path(u.id)

    @method("StartUnit")
    async def start_unit(self, call: Call, m: Manager, name: str, mode: str) -> str:
        return await self.enqueue(call, name, JobType.START, mode)

    @method("StartUnitWithFlags")
    async def start_unit_with_flags(self, call: Call, m: Manager, name: str, mode: str, flags: int) -> str:
        check_name(name)
        job_mode(mode)
        # systemd 252 knows no flags yet and tells clients so.
        if flags:
            raise errors.invalid_args(f"Invalid 'flags' parameter '{flags}'")
        return await self.enqueue(call, name, JobType.START, mode)

    @method("StopUnit")
    async def stop_unit(self, call: Call, m: Manager, name: str, mode: str) -> str:
        return await self.enqueue(call, name, JobType.STOP, mode)

    @method("ReloadUnit")
    async def reload_unit(self, call: Call, m: Manager, name: str, mode: str) -> str:
        return await self.enqueue(call, name, JobType.RELOAD, mode)

    @method("RestartUnit")
    async def restart_unit(self, call: Call, m: Manager, name: str, mode: str) -> str:
        return await self.enqueue(call, name, JobType.RESTART, mode)

    @method("TryRestartUnit")
    async def try_restart_unit(self, call: Call, m: Manager, name: str, mode: str) -> str:
        return await self.enqueue(call, name, JobType.TRY_RESTART, mode)

    @method("ReloadOrRestartUnit")
    async def reload_or_restart_unit(self, call: Call, m: Manager, name: str, mode: str) -> str:
        return await self.enqueue(call, name, JobType.RESTART, mode, reload_or=True)

    @method("ReloadOrTryRestartUnit")
    async def reload_or_try_restart_unit(self, call: Call, m: Manager, name: str, mode: str) -> str:
        return await self.enqueue(call, name, JobType.TRY_RESTART, mode, reload_or=True)

    @method("StartUnitReplace")
    async def start_unit_replace(self, call: Call, m: Manager, old: str, name: str, mode: str) -> str:
        check_name(old)
        u = m.get_unit(old)
        if u is None:
            raise errors.bus_error(errors.NO_SUCH_UNIT, f"Unit {old} not loaded.")
        if u.job is None:
            raise errors.bus_error(errors.NO_SUCH_JOB, f"No job queued for unit {old}")
        return await self.enqueue(call, name, JobType.START, mode)

    @method("EnqueueUnitJob")
    async def enqueue_unit_job(
        self, call: Call, m: Manager, name: str, job_type: str, mode: str
    ) -> list[Any]:
        try:
            jt = JobType(job_type)
        except ValueError:
            raise errors.invalid_args(f"Job type {job_type} invalid.") from None
        path = await self.enqueue(call, name, jt, mode)
        job = m.engine.jobs[int(path.rsplit("/", 1)[1])]  # just installed, so present
        return [job.id, path, job.unit.id, unit_path(job.unit.id), job.type.value, []]

    @method("KillUnit")
    async def kill_unit(self, call: Call, m: Manager, name: str, whom: str, signo: int) -> None:
        await self.kill(call, name, whom, signo)

    @method("ResetFailedUnit")
    async def reset_failed_unit_m(self, call: Call, m: Manager, name: str) -> None:
        await self.reset_failed_unit(call, name)

    @method("ResetFailed")
    async def reset_failed(self, call: Call, m: Manager) -> None:
        await call.authorize(actions.MANAGE_UNITS)
        m.reset_failed()

    @method("SetUnitProperties")
    async def set_unit_properties_m(
        self, call: Call, m: Manager, name: str, runtime: bool, props: list[Any]
    ) -> None:
        await self.set_unit_properties(call, name, runtime, props)

    @method("GetUnitProcesses")
    def get_unit_processes(self, call: Call, m: Manager, name: str) -> list[Any]:
        from sysmasterd.bus.context_props import unit_processes

        return unit_processes(self.unit(name))

    @method("ListUnits")
    def list_units(self, call: Call, m: Manager) -> list[Any]:
        return [unit_row(u) for u in m.units_by_id().values()]

    @method("ListUnitsFiltered")
    def list_units_filtered(self, call: Call, m: Manager, states: list[str]) -> list[Any]:
        return [unit_row(u) for u in m.units_by_id().values() if matches(u, states, ())]

    @method("ListUnitsByPatterns")
    def list_units_by_patterns(
        self, call: Call, m: Manager, states: list[str], patterns: list[str]
    ) -> list[Any]:
        return [unit_row(u) for u in m.units_by_id().values() if matches(u, states, patterns)]

    @method("ListUnitsByNames")
    async def list_units_by_names(self, call: Call, m: Manager, names: list[str]) -> list[Any]:
        # Each name may load a unit: bounded, one such call per user at a time, yielding.
        check_items(len(names), "unit names")
        rows = []
        async with call.router.fairness.heavy(call.caller_uid) as slices:
            for name in names:
                if unitname.is_valid(name):
                    rows.append(unit_row(self.unit(name)))
                await slices.tick()
        return rows

    # --- jobs ----------------------------------------------------------------------------------

    def _job(self, m: Manager, job_id: int) -> Any:
        job = m.engine.jobs.get(job_id)
        if job is None:
            raise errors.bus_error(errors.NO_SUCH_JOB, f"Job {job_id} does not exist.")
        return job

    @method("GetJob")
    def get_job(self, call: Call, m: Manager, job_id: int) -> str:
        return str(self._job(m, job_id).path)

    @method("ListJobs")
    def list_jobs(self, call: Call, m: Manager) -> list[Any]:
        return [job_row(j) for j in m.engine.jobs.values()]

    @method("GetJobAfter")
    def get_job_after(self, call: Call, m: Manager, job_id: int) -> list[Any]:
        return [job_row(j) for j in waiting_for(self._job(m, job_id))]

    @method("GetJobBefore")
    def get_job_before(self, call: Call, m: Manager, job_id: int) -> list[Any]:
        return [job_row(j) for j in blocked_by(self._job(m, job_id))]

    @method("CancelJob")
    async def cancel_job(self, call: Call, m: Manager, job_id: int) -> None:
        self._job(m, job_id)
        await call.authorize(actions.MANAGE_UNITS)
        m.engine.cancel_job(job_id)

    @method("ClearJobs")
    async def clear_jobs(self, call: Call, m: Manager) -> None:
        await call.authorize(actions.MANAGE_UNITS)
        m.engine.clear_jobs()

    # --- manager -------------------------------------------------------------------------------

    @method("Subscribe")
    def subscribe(self, call: Call, m: Manager) -> None:
        self.subscriptions.subscribe(call.conn, call.msg.sender)

    @method("Unsubscribe")
    def unsubscribe(self, call: Call, m: Manager) -> None:
        self.subscriptions.unsubscribe(call.conn, call.msg.sender)

    @method("Reload")
    async def reload(self, call: Call, m: Manager) -> None:
        await call.authorize(actions.RELOAD_DAEMON)
        m.reload()

    @method("Reexecute")
    async def reexecute(self, call: Call, m: Manager) -> None:
        if m.on_reexec_request is None:
            raise errors.not_supported("Re-executing in this mode")
        await call.authorize(actions.RELOAD_DAEMON)
        # Reply first: the manager execs itself on a later loop turn, after the reply was written.
        m.loop.call_soon(m.reexecute)

    @method("Exit")
    async def exit(self, call: Call, m: Manager) -> None:
        if m.is_system:
            raise errors.bus_error(errors.NOT_SUPPORTED, "Exit is only supported for user service managers.")
        if m.on_exit_request is None:
            raise errors.not_supported("Exiting in this mode")
        await call.authorize(actions.MANAGE_UNITS)
        m.loop.call_soon(m.exit)

    async def shutdown(self, call: Call, m: Manager, kind: str, what: str) -> None:
        if not m.is_system:
            raise errors.bus_error(errors.NOT_SUPPORTED, f"{what} is only supported for system managers.")
        # systemd asks for CAP_SYS_BOOT, not polkit: only root may, on the bus.
        if call.conn.is_bus and await call.caller_uid() != 0:
            raise errors.bus_error(errors.ACCESS_DENIED, "Access denied")
        m.request_poweroff(kind)

    @method("PowerOff")
    async def power_off(self, call: Call, m: Manager) -> None:
        await self.shutdown(call, m, "poweroff", "Powering off")

    @method("Reboot")
    async def reboot(self, call: Call, m: Manager) -> None:
        await self.shutdown(call, m, "reboot", "Reboot")

    @method("Halt")
    async def halt(self, call: Call, m: Manager) -> None:
        await self.shutdown(call, m, "halt", "Halt")

    @method("KExec")
    async def kexec(self, call: Call, m: Manager) -> None:
        await self.shutdown(call, m, "kexec", "KExec")

    @method("SetEnvironment")
    async def set_environment(self, call: Call, m: Manager, assignments: list[str]) -> None:
        await self.unset_and_set_environment(call, m, [], assignments)

    @method("UnsetEnvironment")
    async def unset_environment(self, call: Call, m: Manager, names: list[str]) -> None:
        await self.unset_and_set_environment(call, m, names, [])

    @method("UnsetAndSetEnvironment")
    async def unset_and_set_environment(
        self, call: Call, m: Manager, names: list[str], assignments: list[str]
    ) -> None:
        bad = [a for a in assignments if not _valid_assignment(a)] + [n for n in names if not _valid_name(n)]
        if bad:
            raise errors.invalid_args(f"Invalid environment variable names or assignments: {bad[0]}")
        await call.authorize(actions.SET_ENVIRONMENT)
        m.unset_environment(names)
        m.set_environment(assignments)


def _valid_name(name: str) -> bool:
    return bool(name) and not name[0].isdigit() and all(c == "_" or (c.isascii() and c.isalnum()) for c in name)


def _valid_assignment(assignment: str) -> bool:
    key, eq, _ = assignment.partition("=")
    return bool(eq) and _valid_name(key)
