"""The manager: units by name, the job queue, process supervision, the notify socket, observers.

It owns the edges (fork/exec, SIGCHLD, cgroups, the state store) so that unit types stay pure
state machines. Everything runs on one asyncio loop; nothing here blocks.
"""

from __future__ import annotations

import collections
import gc
import logging
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from compat import unitname
from compat.model import (
    CGroupContext,
    CollectMode,
    EmergencyAction,
    ExecContext,
    JobMode,
    OOMPolicy,
    ResourceLimit,
    Scope,
    StdOutput,
)
from sysmasterd.core import errors
from sysmasterd.core.busnames import BusNames
from sysmasterd.core.cgroup import CGroups, process_start_time
from sysmasterd.core.clock import DualTimestamp
from sysmasterd.core.dependency import Dep
from sysmasterd.core.events import ManagerObserver
from sysmasterd.core.execute import (
    DEFAULT_PATH,
)
from sysmasterd.core.job import Job
from sysmasterd.core.jobengine import JobEngine
from sysmasterd.core.memtrim import MemoryTrim
from sysmasterd.core.notify import NotifySocket
from sysmasterd.core.oom import OOMWatch
from sysmasterd.core.runtime import ExecRuntime
from sysmasterd.core.states import ActiveState, JobResult, JobType, LoadState
from sysmasterd.core.timezone import TimezoneWatch
from sysmasterd.core.transient import TransientUnits
from sysmasterd.core.unit import Unit
from sysmasterd.core.unittype import Context

if TYPE_CHECKING:
    import asyncio

    from compat.loader import UnitLoader
    from sysmasterd.core.store import StateStore
    from sysmasterd.core.unit_export import UnitStateExport
    from sysmasterd.init.protocol import ChildExit

# The environment variables the manager never passes on (systemd's sanitize_environment()).
_SANITIZED = ("EXIT_CODE", "EXIT_STATUS", "INVOCATION_ID", "JOURNAL_STREAM", "LISTEN_FDNAMES", "LISTEN_FDS",
              "LISTEN_PID", "MAINPID", "MANAGERPID", "NOTIFY_SOCKET", "PIDFILE", "REMOTE_ADDR", "REMOTE_PORT",
              "SERVICE_RESULT", "WATCHDOG_PID", "WATCHDOG_USEC")

@dataclass
class ManagerSettings:
    scope: Scope
    unit_path: str | list[str] | None = None  # SYSTEMD_UNIT_PATH syntax, or a list of directories
    runtime_dir: str = ""
    default_timeout_start_usec: int = 90_000_000
    default_timeout_stop_usec: int = 90_000_000
    default_start_limit_interval_usec: int = 10_000_000
    default_start_limit_burst: int = 5
    default_restart_usec: int = 100_000
    default_timeout_abort_usec: int | None = None  # None: as DefaultTimeoutStopSec=
    default_standard_output: StdOutput = StdOutput.JOURNAL
    default_standard_error: StdOutput = StdOutput.INHERIT
    default_environment: dict[str, str] = field(default_factory=dict)  # DefaultEnvironment=
    default_limits: dict[str, ResourceLimit] = field(default_factory=dict)  # DefaultLimit*=
    default_oom_policy: OOMPolicy = OOMPolicy.STOP
    environ: dict[str, str] = field(default_factory=dict)
    test_mode: bool = False  # --test: load only, never touch processes, cgroups or the store
    # The scope's real manager: its cgroup subtree is the root of the tree it lays out (init.scope,
    # system.slice, ...) rather than a private corner of someone else's.
    owns_cgroup_root: bool = False


class Manager:
    def __init__(self, settings: ManagerSettings, loop: asyncio.AbstractEventLoop,
                 log: logging.Logger | None = None) -> None:
        from compat.loader import UnitLoader

        self.settings = settings
        self.scope = settings.scope
        self.is_system = settings.scope is Scope.SYSTEM
        self.loop = loop
        self.log = log or logging.getLogger("sysmasterd")
        self.runtime_dir = settings.runtime_dir
        self.environment = {**_default_environment(settings.scope, settings.environ), **settings.default_environment}
        # daemon-reload re-reads system.conf/user.conf through this, as systemd 252 does.
        self.on_reload_settings: Callable[[], ManagerSettings] | None = None
        self.loader: UnitLoader = UnitLoader(settings.scope, unit_path=settings.unit_path, environ=settings.environ)
        self.transient = TransientUnits(self)
        self._loader_stamp = self._search_path_stamp()
        self.units: dict[str, Unit] = {}
        self._dirty: set[Unit] = set()
        # Who names a unit in its own dependency settings: what keeps an inactive unit loaded.
        self._referrers: dict[str, set[str]] = collections.defaultdict(set)
        self._gc_candidates: set[Unit] = set()
        self._gc_scheduled = False
        self._flush_scheduled = False
        self._load_queue: collections.deque[Unit] = collections.deque()
        self._newly_loaded: list[Unit] = []
        self._unneeded_scheduled = False
        self.observers: list[ManagerObserver] = []
        self.cgroups: CGroups | None = None
        # Files journald reads about units; only the scope's own manager writes them.
        self.state_export: UnitStateExport | None = None
        self.store: StateStore | None = None
        self.notify: NotifySocket | None = None
        self.timezone_watch: TimezoneWatch | None = None
        self.oom: OOMWatch | None = None
        self.bus_names = BusNames()
        self.ts: dict[str, DualTimestamp] = {"initrd": DualTimestamp(), "startup": DualTimestamp.now(),
                                             "finish": DualTimestamp(), "units_load_start": DualTimestamp(),
                                             "units_load_finish": DualTimestamp()}
        self.startup_finished_emitted = False
        self.shutting_down = False
        self.exit_requested: Callable[[], None] | None = None
        # systemd's return_value: what the daemon exits with, set by SetExitCode().
        self.exit_code = 0
        # SetShowStatus()'s override of the status output, None when not overridden.
        self.show_status_override: str | None = None
        # Set by the daemon: how a client's Exit()/poweroff request ends the manager.
        self.on_exit_request: Callable[[], None] | None = None
        self.on_reexec_request: Callable[[], None] | None = None
        self.on_poweroff_request: Callable[[str], None] | None = None
        self.on_switch_root_request: Callable[[str, str], None] | None = None
        self.engine = JobEngine(self)
        self.memory = MemoryTrim(loop)
        self.runtime = ExecRuntime(self)

    # -- observers ------------------------------------------------------------------------------

    def add_observer(self, obs: ManagerObserver) -> None:
        self.observers.append(obs)

    def remove_observer(self, obs: ManagerObserver) -> None:
        if obs in self.observers:
            self.observers.remove(obs)

    def emit(self, event: str, *args: Any) -> None:
        for obs in list(self.observers):
            try:
                getattr(obs, event)(*args)
            except Exception:  # an observer's bug must not take the manager down
                self.log.exception("observer %r failed on %s", obs, event)

    # -- setting up the edges -------------------------------------------------------------------

    def attach_runtime(self, cgroups: CGroups, store: StateStore, notify: NotifySocket) -> None:
        self.cgroups, self.store, self.notify = cgroups, store, notify
        cgroups.path_of = self.cgroup_path_of
        cgroups.context_of = self.cgroup_context_of
        cgroups.exec_of = self.exec_context_of
        cgroups.starting = lambda: not self.startup_finished_emitted
        cgroups.oom_group_of = self._kernel_kills_group
        self.oom = OOMWatch(self.loop, self._oom_killed, self.log)
        cgroups.on_created = self.watch_oom
        cgroups.on_removed = self.oom.forget
        cgroups.fd_holder = lambda: self.runtime.fd_holder
        cgroups.log = self.log
        self.runtime.attach(notify)
        self.timezone_watch = TimezoneWatch(self.loop, self._timezone_changed, self.log)

    def detach_runtime(self) -> None:
        self.runtime.detach(self.notify)
        if self.oom is not None:
            self.oom.close()
        if self.timezone_watch is not None:
            self.timezone_watch.close()
            self.timezone_watch = None

    def _timezone_changed(self) -> None:
        for u in list(self.units_by_id().values()):
            if u.impl is not None:
                u.impl.timezone_change()

    # -- units ----------------------------------------------------------------------------------

    def _kernel_kills_group(self, name: str) -> bool:
        """OOMPolicy=kill: the kernel's OOM killer takes the unit's whole cgroup (memory.oom.group)."""
        u = self.units.get(name)
        return u is not None and u.impl is not None and u.impl.oom_policy() is OOMPolicy.KILL

    def watch_oom(self, name: str) -> None:
        """Follow the OOM kills in the unit's cgroup (where cgroup2 counts them)."""
        events = self.cgroups.memory_events(name) if self.cgroups is not None else None
        if events is not None and self.oom is not None:
            self.oom.watch(name, events)

    def _oom_killed(self, name: str) -> None:
        u = self.units.get(name)
        if u is None or u.impl is None:
            return
        text = f"{u.id}: A process of this unit has been killed by the OOM killer."
        self.log.info("%s", text)  # systemd's notice level, which the manager's log maps to info
        u.log(text)
        u.impl.notify_cgroup_oom()
        self.engine.schedule_run_queue()

    def cgroup_context_of(self, name: str) -> CGroupContext | None:
        """A loaded unit's resource settings, if its type has a cgroup context."""
        u = self.units.get(name)
        if u is None or u.config is None or not u.type.contexts & Context.CGROUP:
            return None
        return u.config.cgroup

    def exec_context_of(self, name: str) -> ExecContext | None:
        u = self.units.get(name)
        return u.config.exec if u is not None and u.config is not None else None

    def cgroup_path_of(self, name: str) -> str:
        u = self.units.get(name)
        return u.cgroup_path() if u is not None else name

    def enumerate(self) -> None:
        """Units that exist without unit files, at start (systemd's manager_enumerate_perpetual
        and manager_enumerate): each type's enumerate hook."""
        from sysmasterd.units import TYPES

        for descriptor in TYPES.values():
            if descriptor.enumerate is not None:
                descriptor.enumerate(self)

    def get_unit(self, name: str) -> Unit | None:
        return self.units.get(name)

    def units_by_id(self) -> dict[str, Unit]:
        return {u.id: u for u in self.units.values()}

    def load_unit(self, name: str) -> Unit:
        """The unit of that name, loaded from disk if new (any valid name answers, maybe not-found)."""
        u = self.units.get(name)
        if u is not None:
            return u
        if not unitname.is_valid(name, template=False):
            raise errors.InvalidArgs(f"Unit name {name} is not valid.")
        u = self._stub(name)
        self._dispatch_load_queue()
        return self.units.get(name, u)

    def rescan_unit_files(self) -> None:
        """Read the search path again (a transient unit file was written or removed)."""
        self.loader.rescan()
        self._loader_stamp = self._search_path_stamp()

    def load_fresh(self, name: str) -> Unit:
        """Load a unit whose file was just written (a transient unit): the search path is read
        again and a unit object that answered not-found so far loads the file."""
        self.rescan_unit_files()
        u = self.units.get(name)
        if u is not None and u.load_state is not LoadState.STUB:
            u.load_state = LoadState.STUB
            self._load_queue.append(u)
            self._dispatch_load_queue()
            return u
        return self.load_unit(name)

    def _stub(self, name: str) -> Unit:
        u = self.units.get(name)
        if u is None:
            u = Unit(self, name)
            self.units[name] = u
            self._load_queue.append(u)
        return u

    def _dispatch_load_queue(self) -> None:
        # Loading creates thousands of objects that live on and frees few: a collection while it
        # runs would only walk them again and again.
        collecting = gc.isenabled()
        gc.disable()
        try:
            while self._load_queue:
                self._load_one(self._load_queue.popleft())
        finally:
            if collecting:
                gc.enable()
        newly, self._newly_loaded = self._newly_loaded, []
        for u in newly:
            self._add_target_dependencies(u)
        for u in newly:
            self.emit("unit_new", u)
            self.unit_changed(u)
            self.schedule_gc(u)

    def _search_path_stamp(self) -> tuple[int, ...]:
        stamps = []
        for d in self.loader.paths.search_path:
            try:
                stamps.append(os.stat(d).st_mtime_ns)
            except OSError:
                stamps.append(0)
        return tuple(stamps)

    def _load_one(self, u: Unit) -> None:
        try:
            loaded = self.loader.load(u.id)
            if loaded.load_state == "not-found":
                # Like systemd: a unit file created since the last scan is found without daemon-reload.
                stamp = self._search_path_stamp()
                if stamp != self._loader_stamp:
                    self._loader_stamp = stamp
                    self.loader.rescan()
                    loaded = self.loader.load(u.id)
        except Exception as e:  # compat promises not to raise; a bug there must not kill us
            self.log.exception("%s: failed to load unit file", u.id)
            from compat.loader import LoadedUnit

            loaded = LoadedUnit(name=u.id, kind=None, names=[u.id], load_state="error",
                                load_error=f"internal error: {e}")
        for d in loaded.diagnostics:
            self.log.warning("%s", d)
        # Aliases: one unit under several names, its id being the name of its file.
        real = self.units.get(loaded.name)
        if real is not None and real is not u and real.load_state is not LoadState.STUB:
            self.units[u.id] = real
            real.names.add(u.id)
            return
        if loaded.name != u.id:
            u.names.add(loaded.name)
            u.id = loaded.name
            self.units[u.id] = u
        u.apply_load(loaded)
        for alias in u.names:
            self.units.setdefault(alias, u)
        if u.load_state is LoadState.LOADED:
            u.add_config_dependencies()
        self._newly_loaded.append(u)

    def add_dependency(self, u: Unit, dep: Dep, other_name: str) -> None:
        if other_name == u.id or other_name in u.names:
            return
        if other_name not in self.units and not unitname.is_valid(other_name, template=False):
            self.log.warning("%s: invalid unit name '%s' in %s=, ignoring", u.id, other_name, dep.value)
            return
        other = self.units.get(other_name) or self._stub(other_name)
        u.deps[dep].add(other.id)
        other.deps[dep.inverse].add(u.id)
        self._referrers[other.id].add(u.id)

    def _add_target_dependencies(self, u: Unit) -> None:
        """Targets (types that say so) order themselves after what they pull in (systemd's default
        target dependency)."""
        pairs: list[tuple[Unit, Unit]] = []
        for dep in (Dep.REQUIRED_BY, Dep.WANTED_BY, Dep.BOUND_BY, Dep.REQUISITE_OF):
            pairs += [(u, t) for t in u.dep_units(dep) if t.type.orders_after_pulled_in]
        if u.type.orders_after_pulled_in:
            for dep in (Dep.REQUIRES, Dep.WANTS, Dep.BINDS_TO, Dep.REQUISITE):
                pairs += [(o, u) for o in u.dep_units(dep)]
        for other, target in pairs:
            if other.load_state is not LoadState.LOADED or target.load_state is not LoadState.LOADED:
                continue
            if not (other.config and other.config.unit.default_dependencies and target.config
                    and target.config.unit.default_dependencies):
                continue
            if other.id in target.deps.get(Dep.BEFORE, set()):
                continue
            target.deps[Dep.AFTER].add(other.id)
            other.deps[Dep.BEFORE].add(target.id)

    def unit_changed(self, u: Unit) -> None:
        if self.store is not None and not self.settings.test_mode and u.load_state is not LoadState.STUB:
            self._dirty.add(u)
            if not self._flush_scheduled:
                self._flush_scheduled = True
                self.loop.call_soon(self.flush_store)
        self.emit("unit_changed", u)

    def flush_store(self) -> None:
        """Write changed units in one transaction. Runs at the end of the loop turn, and before any
        JobRemoved goes out, so a client never sees a result the store does not hold yet."""
        self._flush_scheduled = False
        if not self._dirty or self.store is None:
            self._dirty.clear()
            return
        dirty, self._dirty = self._dirty, set()
        with self.store.transaction():
            for u in dirty:
                self.store.save_unit(u.id, u.serialize())

    def unit_state_changed(self, u: Unit, old: ActiveState, new: ActiveState) -> None:
        self.engine.schedule_run_queue()
        if new.is_inactive_or_failed():
            self.schedule_gc(u)
            if self.state_export is not None:
                self.state_export.unlink(u)
        if new is ActiveState.INACTIVE and self.cgroups is not None:
            self.cgroups.remove(u.id)

    # -- garbage collection ---------------------------------------------------------------------

    def schedule_gc(self, u: Unit) -> None:
        self._gc_candidates.add(u)
        if not self._gc_scheduled:
            self._gc_scheduled = True
            self.loop.call_soon(self._gc_sweep)

    def _gc_sweep(self) -> None:
        """Unload units nothing needs, as systemd does: an inactive unit without a job that no other
        loaded unit names is forgotten, and loaded afresh when asked for again."""
        self._gc_scheduled = False
        candidates, self._gc_candidates = self._gc_candidates, set()
        collected = 0
        for u in candidates:
            if self._may_gc(u):
                self._collect(u)
                collected += 1
        if collected and not self.settings.test_mode:
            self.memory.freed(collected)

    def _may_gc(self, u: Unit) -> bool:
        if u.job is None and u.impl is not None and u.active_state.is_inactive_or_failed():
            u.impl.release_resources()
        if (self.units.get(u.id) is not u or u.job is not None or self.transient.pinned(u) or u.perpetual
                or self.shutting_down):
            return False
        state = u.active_state
        collect_failed = u.config is not None and u.config.unit.collect_mode is CollectMode.INACTIVE_OR_FAILED
        if not (state is ActiveState.INACTIVE or (state is ActiveState.FAILED and collect_failed)):
            return False
        if u.impl is not None and any(u.impl.pids().values()):
            return False
        return not any(r in self.units for r in self._referrers.get(u.id, ()) if r not in u.names)

    def _collect(self, u: Unit) -> None:
        for dep, names in u.deps.items():
            for name in names:
                other = self.units.get(name)
                if other is not None:
                    other.deps[dep.inverse].discard(u.id)
                    # What only this unit kept loaded may go now (a timer's or path's unit).
                    self.schedule_gc(other)
                refs = self._referrers.get(name)
                if refs is not None:
                    refs.discard(u.id)
        for name in list(u.names):
            if self.units.get(name) is u:
                del self.units[name]
        self._dirty.discard(u)
        if self.store is not None and not self.settings.test_mode:
            self.store.delete_unit(u.id)
        if self.cgroups is not None:
            self.cgroups.remove(u.id)
        if self.state_export is not None:
            self.state_export.unlink(u)
        self.transient.collected(u)
        self.emit("unit_removed", u)

    def check_unneeded_soon(self) -> None:
        if not self._unneeded_scheduled:
            self._unneeded_scheduled = True
            self.loop.call_soon(self._check_unneeded)

    def _check_unneeded(self) -> None:
        """StopWhenUnneeded=: stop active units nothing active requires or wants any more."""
        self._unneeded_scheduled = False
        for u in list(self.units_by_id().values()):
            if not (u.config and u.config.unit.stop_when_unneeded) or u.job is not None:
                continue
            if not u.active_state.is_active_or_activating():
                continue
            needed = False
            for dep in (Dep.REQUIRED_BY, Dep.WANTED_BY, Dep.BOUND_BY, Dep.REQUISITE_OF):
                for other in u.dep_units(dep):
                    if other.active_state.is_active_or_activating() or (
                            other.job is not None and other.job.type is not JobType.STOP):
                        needed = True
            if not needed:
                self.log.info("%s: Unit not needed anymore. Stopping.", u.id)
                self.engine.queue_internal_job(u, JobType.STOP)
        # Upholds=: an active unit keeps the units it upholds running.
        for u in list(self.units_by_id().values()):
            if not u.deps.get(Dep.UPHOLDS) or not u.active_state.is_active_or_reloading():
                continue
            for other in u.dep_units(Dep.UPHOLDS):
                if other.active_state.is_inactive_or_failed() and other.job is None \
                        and other.load_state is LoadState.LOADED:
                    self.log.info("%s: Unit is upheld by active unit %s, starting.", other.id, u.id)
                    self.engine.queue_internal_job(other, JobType.START)

    # -- client operations ----------------------------------------------------------------------

    def reset_failed(self, name: str | None = None) -> None:
        targets = [self.load_unit(name)] if name else list(self.units_by_id().values())
        for u in targets:
            u.reset_failed()
            self.schedule_gc(u)

    def set_environment(self, assignments: Iterable[str]) -> None:
        for a in assignments:
            if "=" not in a or not a.split("=", 1)[0]:
                raise errors.InvalidArgs(f"Invalid environment assignment: {a}")
        for a in assignments:
            k, v = a.split("=", 1)
            self.environment[k] = v

    def unset_environment(self, names: Iterable[str]) -> None:
        for n in names:
            self.environment.pop(n.split("=", 1)[0], None)

    def environ_for_conditions(self) -> dict[str, str]:
        return dict(self.environment)

    # -- persistence hooks used by unit types ---------------------------------------------------

    def store_intent(self, u: Unit, what: str) -> None:
        """Write down what is about to happen, so a core killed half-way can reconcile."""
        if self.store is not None:
            self.store.set_meta(f"intent:{u.id}", {"what": what, "invocation": u.invocation_id.hex()})

    def store_main_pid(self, u: Unit, pid: int) -> None:
        if self.store is not None:
            self.store.set_meta(f"mainpid:{u.id}", {"pid": pid, "start": process_start_time(pid)})

    def restore(self, exit_reports: Mapping[int, ChildExit] | None = None) -> int:
        """Bring back the runtime state of a previous core (same runtime dir); returns units restored.
        ``exit_reports``: init's reports of processes that died while no core ran, by PID."""
        if self.store is None:
            return 0
        from sysmasterd.core import recovery

        saved = self.store.units()
        intents = recovery.adopt_interrupted_starts(self, saved)
        n = 0
        for uid, data in saved.items():
            u = self.load_unit(uid)
            u.deserialize(data)
            n += 1
            if u.impl is None:
                continue
            for pid in u.impl.pids().values():
                if pid:
                    self.runtime.watch_pid(pid, u)
        self.engine.restore_next_id(int(self.store.get_meta("next_job_id", 1) or 1))
        for jd in self.store.jobs():
            ju = self.units.get(jd.get("unit", ""))
            if ju is None or ju.job is not None:
                self.store.delete_job(int(jd["id"]))
                continue
            self.engine.restore_job(jd, ju)
        report = recovery.reconcile(self, saved, exit_reports or {})
        report.intents = intents
        if saved or intents:
            self.log.info("Recovery: %s.", report.describe())
        self.engine.schedule_run_queue()
        return n

    # -- daemon-reload, daemon-reexec, exit -----------------------------------------------------

    def apply_settings(self, settings: ManagerSettings) -> None:
        """New defaults for units to fall back to (daemon-reload). DefaultEnvironment= replaces
        what the previous settings set; a value a client changed since (set-environment) stays."""
        for name, value in self.settings.default_environment.items():
            if self.environment.get(name) == value:
                del self.environment[name]
        self.environment.update(settings.default_environment)
        self.settings = settings

    def reload(self) -> None:
        """daemon-reload: re-read the manager's settings and every unit file, rebuild
        dependencies, keep all runtime state."""
        self.emit("reloading", True)
        if self.on_reload_settings is not None:
            self.apply_settings(self.on_reload_settings())
        self.loader.rescan()
        self._loader_stamp = self._search_path_stamp()
        units = list(self.units_by_id().values())
        self._referrers.clear()
        for u in units:
            u.deps.clear()
        for u in units:
            self._load_one(u)
        self._dispatch_load_queue()
        self._newly_loaded = []
        for u in units:
            self._add_target_dependencies(u)
            self.unit_changed(u)
        self.emit("reloading", False)
        self.emit("unit_files_changed")
        self.engine.schedule_run_queue()

    def reexecute(self) -> None:
        """daemon-reexec: the state is in the store already; the daemon execs itself in place."""
        if self.on_reexec_request is None:
            raise errors.NotSupported("Re-executing is not supported in this mode.")
        self.on_reexec_request()

    def switch_root(self, root: str, init: str) -> None:
        """SwitchRoot(): the units stay as they are (stored); core leaves and init moves to the
        new root, as systemd's MANAGER_SWITCH_ROOT objective does."""
        if self.on_switch_root_request is None:
            raise errors.NotSupported("Switching root needs sysmaster-init as PID 1.")
        self.log.info("Switching root.")
        self.on_switch_root_request(root, init)

    def exit(self) -> None:
        """Exit(): stop every unit, then leave (the user manager's way out; init's for the system)."""
        if self.on_exit_request is None:
            raise errors.NotSupported("Exiting is not supported in this mode.")
        self.on_exit_request()

    def emergency_action(self, action: EmergencyAction, reason: str) -> None:
        """FailureAction=, SuccessAction=, StartLimitAction=, JobTimeoutAction=. The -force and
        -immediate variants take the same clean path (stop units, then init ends the machine)."""
        if action is EmergencyAction.NONE:
            return
        kind = action.value.split("-", 1)[0]
        verb = {"reboot": "Rebooting", "soft": "Rebooting", "kexec": "Rebooting", "poweroff": "Powering off",
                "halt": "Halting", "exit": "Exiting"}[kind]
        self.log.warning("%s: %s", verb, reason)
        try:
            if kind == "exit":
                self.exit()
            else:
                self.request_poweroff({"soft": "reboot"}.get(kind, kind))
        except errors.ManagerError as e:
            self.log.error("%s: cannot act on it: %s", reason, e.message)

    def request_poweroff(self, kind: str) -> None:
        """PowerOff()/Reboot()/Halt()/KExec(): stop every unit, then init (if any) ends the machine,
        else the daemon exits. ``kind``: poweroff, reboot, halt or kexec."""
        if kind not in ("poweroff", "reboot", "halt", "kexec"):
            raise errors.InvalidArgs(f"Unknown shutdown kind '{kind}'.")
        if self.on_poweroff_request is None:
            raise errors.NotSupported("Shutting down is not supported in this mode.")
        self.on_poweroff_request(kind)

    # -- start-up and shut-down -----------------------------------------------------------------

    def load_all(self, names: Iterable[str]) -> None:
        self.ts["units_load_start"] = DualTimestamp.now()
        for n in names:
            self._stub(n)
        self._dispatch_load_queue()
        self.ts["units_load_finish"] = DualTimestamp.now()

    def start_default(self, name: str) -> Job | None:
        # What is loaded now lives as long as the daemon: keep the collector from touching (and
        # forked children from copying) those pages again.
        gc.freeze()
        try:
            mode = JobMode.ISOLATE if self._allow_isolate(name) else JobMode.REPLACE
            return self.engine.add_job(name, JobType.START, mode, manual=False)
        except errors.ManagerError as e:
            self.log.error("Failed to start %s: %s", name, e.message)
            self.engine.check_idle()
            return None

    def _allow_isolate(self, name: str) -> bool:
        u = self.load_unit(name)
        return bool(u.config and u.config.unit.allow_isolate)

    def begin_shutdown(self, on_done: Callable[[], None]) -> None:
        """Stop every unit (in reverse dependency order, through stop jobs), then call on_done."""
        self.shutting_down = True
        for job in list(self.engine.jobs.values()):
            if job.type is not JobType.STOP:
                self.engine.finish_job(job, JobResult.CANCELED)
        for u in list(self.units_by_id().values()):
            if u.perpetual or (u.impl is not None and u.impl.is_extrinsic()):
                continue
            if not u.active_state.is_inactive_or_failed() or u.job is not None:
                try:
                    self.engine.add_job(u.id, JobType.STOP, JobMode.REPLACE, manual=False)
                except errors.ManagerError as e:
                    self.log.warning("%s: cannot stop: %s", u.id, e.message)
        # Only now: while the cancels above ran, an empty job list did not mean "all stopped".
        self.exit_requested = on_done
        self.engine.check_idle()

    def n_failed_units(self) -> int:
        return sum(1 for u in self.units_by_id().values() if u.active_state is ActiveState.FAILED)

    def system_state(self) -> str:
        if self.shutting_down:
            return "stopping"
        if not self.startup_finished_emitted:
            return "starting"
        return "degraded" if self.n_failed_units() else "running"


def _default_environment(scope: Scope, environ: dict[str, str]) -> dict[str, str]:
    """System services start from a clean environment; the user manager passes its own on."""
    if scope is Scope.SYSTEM:
        env = {"PATH": DEFAULT_PATH}
        for k in ("LANG",):
            if k in environ:
                env[k] = environ[k]
        return env
    env = {k: v for k, v in environ.items() if k not in _SANITIZED}
    env["PATH"] = "/usr/local/bin:/usr/bin:/bin"
    return env
