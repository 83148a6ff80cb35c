"""The manager: units by name, the job queue, process supervision, the notify socket, observers.

It owns the edges (fork/exec, SIGCHLD, cgroups, the state store) so that unit types stay pure
state machines. Everything runs on one asyncio loop; nothing here blocks.
"""

from __future__ import annotations

import collections
import gc
import logging
import os
import pwd
import signal
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from compat import unitname
from compat.model import (
    CollectMode,
    EmergencyAction,
    ExecCommand,
    ExecFlag,
    JobMode,
    ResourceLimit,
    Scope,
    StdOutput,
)
from sysmasterd.core import errors
from sysmasterd.core.busnames import BusNames
from sysmasterd.core.cgroup import CGroups, process_name, process_start_time, process_tree, send_signal
from sysmasterd.core.clock import DualTimestamp
from sysmasterd.core.dependency import PROPAGATE_START_FAILURE, Dep
from sysmasterd.core.events import ManagerObserver
from sysmasterd.core.execute import (
    DEFAULT_PATH,
    SpawnRequest,
    StdioPlan,
    directory_settings,
    parse_report,
    read_environment_file,
    spawn,
)
from sysmasterd.core.idlepipe import IdlePipe
from sysmasterd.core.job import Job, collapse, merge
from sysmasterd.core.notify import NotifySocket
from sysmasterd.core.states import ActiveState, JobResult, JobState, JobType, LoadState
from sysmasterd.core.transaction import Transaction
from sysmasterd.core.unit import Unit, check_job_allowed
from sysmasterd.core.unittype import OpResult

if TYPE_CHECKING:
    import asyncio

    from compat.loader import UnitLoader
    from sysmasterd.core.store import StateStore
    from sysmasterd.init.protocol import ChildExit

# The environment variables the manager never passes on (systemd's sanitize_environment()).
_SANITIZED = ("EXIT_CODE", "EXIT_STATUS", "INVOCATION_ID", "JOURNAL_STREAM", "LISTEN_FDNAMES", "LISTEN_FDS",
              "LISTEN_PID", "MAINPID", "MANAGERPID", "NOTIFY_SOCKET", "PIDFILE", "REMOTE_ADDR", "REMOTE_PORT",
              "SERVICE_RESULT", "WATCHDOG_PID", "WATCHDOG_USEC")

_DONE_MESSAGES: dict[tuple[JobType, JobResult], str] = {
    (JobType.START, JobResult.DONE): "Started {}.",
    (JobType.START, JobResult.FAILED): "Failed to start {}.",
    (JobType.START, JobResult.DEPENDENCY): "Dependency failed for {}.",
    (JobType.START, JobResult.TIMEOUT): "Timed out starting {}.",
    (JobType.START, JobResult.ASSERT): "Assertion failed for {}.",
    (JobType.START, JobResult.UNSUPPORTED): "Starting of {} unsupported.",
    (JobType.STOP, JobResult.DONE): "Stopped {}.",
    (JobType.STOP, JobResult.FAILED): "Stopped {} with error.",
    (JobType.STOP, JobResult.TIMEOUT): "Timed out stopping {}.",
    (JobType.RELOAD, JobResult.DONE): "Reloaded {}.",
    (JobType.RELOAD, JobResult.FAILED): "Reload failed for {}.",
    (JobType.RELOAD, JobResult.TIMEOUT): "Timed out reloading {}.",
    (JobType.RESTART, JobResult.DONE): "Started {}.",
}

_OP_RESULTS = {OpResult.ALREADY: JobResult.DONE, OpResult.CONDITION_FAILED: JobResult.DONE,
               OpResult.ASSERT_FAILED: JobResult.ASSERT, OpResult.UNSUPPORTED: JobResult.UNSUPPORTED,
               OpResult.FAILED: JobResult.FAILED}


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
    environ: dict[str, str] = field(default_factory=dict)
    test_mode: bool = False  # --test: load only, never touch processes, cgroups or the store


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
        self._loader_stamp = self._search_path_stamp()
        self.units: dict[str, Unit] = {}
        self._dirty: set[Unit] = set()
        # Who names a unit in its own dependency settings: what keeps an inactive unit loaded.
        self._referrers: dict[str, set[str]] = collections.defaultdict(set)
        self._gc_candidates: set[Unit] = set()
        self._gc_scheduled = False
        self._flush_scheduled = False
        self.jobs: dict[int, Job] = {}
        self._next_job_id = 1
        self._load_queue: collections.deque[Unit] = collections.deque()
        self._newly_loaded: list[Unit] = []
        self._run_queue_scheduled = False
        self._unneeded_scheduled = False
        self.observers: list[ManagerObserver] = []
        self.watched: dict[int, Unit] = {}
        self._pidfds: dict[int, int] = {}
        self.cgroups: CGroups | None = None
        self.store: StateStore | None = None
        self.notify: NotifySocket | None = None
        self.idle_pipe = IdlePipe(loop)
        self.bus_names = BusNames()
        self.notify_socket_path = os.path.join(self.runtime_dir, "notify") if self.runtime_dir else ""
        self.ts: dict[str, DualTimestamp] = {"initrd": DualTimestamp(), "startup": DualTimestamp.now(),
                                             "finish": DualTimestamp(), "units_load_start": DualTimestamp(),
                                             "units_load_finish": DualTimestamp()}
        self.startup_finished_emitted = False
        self.shutting_down = False
        self.exit_requested: Callable[[], None] | None = None
        # Set by the daemon: how a client's Exit()/poweroff request ends the manager.
        self.on_exit_request: Callable[[], None] | None = None
        self.on_reexec_request: Callable[[], None] | None = None
        self.on_poweroff_request: Callable[[str], None] | None = None
        # Set by the init link: takes the exit of a PID that is not our child (init reaps it and
        # reports the real status later); False leaves it to the pidfd's "gone, status unknown".
        self.defer_foreign_exit: Callable[[int], bool] | None = None

    # -- observers ------------------------------------------------------------------------------

    def add_observer(self, obs: ManagerObserver) -> None:
        self.observers.append(obs)

    def remove_observer(self, obs: ManagerObserver) -> None:
        if obs in self.observers:
            self.observers.remove(obs)

    def _emit(self, event: str, *args: Any) -> None:
        for obs in list(self.observers):
            try:
                getattr(obs, event)(*args)
            except Exception:  # an observer's bug must not take the manager down
                self.log.exception("observer %r failed on %s", obs, event)

    # -- setting up the edges -------------------------------------------------------------------

    def attach_runtime(self, cgroups: CGroups, store: StateStore, notify: NotifySocket) -> None:
        self.cgroups, self.store, self.notify = cgroups, store, notify
        from sysmasterd.core.fastspawn import mark_close_on_exec

        mark_close_on_exec()  # what we inherited must not reach the services
        self.loop.add_reader(notify.fileno(), notify.receive, self._on_notify)
        self.loop.add_signal_handler(signal.SIGCHLD, self._reap)
        # A burst of exits may fill asyncio's wakeup pipe; one wakeup is enough, since _reap()
        # collects every exited child, so the overflow is not worth a warning per signal.
        fd = signal.set_wakeup_fd(-1)
        signal.set_wakeup_fd(fd, warn_on_full_buffer=False)

    def detach_runtime(self) -> None:
        self.idle_pipe.release()
        if self.notify is not None:
            self.loop.remove_reader(self.notify.fileno())
        for fd in self._pidfds.values():
            self.loop.remove_reader(fd)
            os.close(fd)
        self._pidfds.clear()
        try:
            self.loop.remove_signal_handler(signal.SIGCHLD)
        except (ValueError, RuntimeError):
            pass

    # -- units ----------------------------------------------------------------------------------

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
            self._emit("unit_new", u)
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
        self._emit("unit_changed", u)

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
        self._schedule_run_queue()
        if new.is_inactive_or_failed():
            self.schedule_gc(u)
        if new is ActiveState.INACTIVE and self.cgroups is not None:
            self.cgroups.remove(u.id)

    # -- jobs -----------------------------------------------------------------------------------

    def add_job(self, name: str, job_type: JobType, mode: JobMode, manual: bool = True) -> Job:
        """Plan and install a transaction for one requested job; returns the anchor job."""
        if self.shutting_down and job_type is not JobType.STOP:
            raise errors.ShuttingDown("Refusing to operate on units, shutdown in progress.")
        u = self.load_unit(name)
        if manual:
            check_job_allowed(u, job_type)
        if mode is JobMode.ISOLATE:
            if job_type is not JobType.START:
                raise errors.InvalidArgs("Isolate is only valid for start.")
            if not (u.config and u.config.unit.allow_isolate):
                raise errors.NoIsolation("Operation refused, unit may not be isolated.")
        tr = Transaction(self, mode)
        tr.add(u, job_type, None, True)
        if mode is JobMode.ISOLATE:
            tr.add_isolate_jobs()
        planned = tr.finalize()
        if mode is JobMode.FLUSH:
            for j in list(self.jobs.values()):
                if j.unit.id not in tr.jobs:
                    self.finish_job(j, JobResult.CANCELED)
        anchor: Job | None = None
        irreversible = mode is JobMode.REPLACE_IRREVERSIBLY
        for tj in planned:
            job = self._install(tj.unit, tj.type, irreversible, tr.ignore_order)
            if tj.anchor:
                anchor = job
        assert anchor is not None
        self._schedule_run_queue()
        return anchor

    def _install(self, u: Unit, job_type: JobType, irreversible: bool, ignore_order: bool) -> Job:
        existing = u.job
        if existing is not None:
            merged = merge(existing.type, job_type)
            if merged is not None:
                merged = collapse(merged, u.active_state)
                if existing.state is JobState.RUNNING and merged is not existing.type:
                    existing.state = JobState.WAITING
                existing.type = merged
                existing.irreversible = existing.irreversible or irreversible
                self._emit("job_changed", existing)
                self._store_job(existing)
                return existing
            self.finish_job(existing, JobResult.CANCELED)
        job = Job(self, self._next_job_id, u, job_type, irreversible, ignore_order)
        self._next_job_id += 1
        self.jobs[job.id] = job
        u.job = job
        self._store_job(job)
        self._emit("job_new", job)
        u.notify_changed()
        return job

    def _store_job(self, job: Job) -> None:
        if self.store is not None:
            self.store.save_job(job.id, job.serialize())
            self.store.set_meta("next_job_id", self._next_job_id)

    def queue_internal_job(self, u: Unit, job_type: JobType, mode: JobMode = JobMode.REPLACE) -> None:
        try:
            self.add_job(u.id, job_type, mode, manual=False)
        except errors.ManagerError as e:
            self.log.warning("%s: Failed to enqueue %s job: %s", u.id, job_type.value, e.message)

    def queue_triggered_job(self, target: Unit, trigger: Unit, why: str) -> None:
        mode = trigger.config.unit.on_failure_job_mode if trigger.config else JobMode.REPLACE
        self.log.info("%s: Triggering %s= dependencies.", trigger.id, why)
        self.queue_internal_job(target, JobType.START, mode if why == "OnFailure" else JobMode.REPLACE)

    def cancel_job(self, job_id: int) -> None:
        job = self.jobs.get(job_id)
        if job is None:
            raise errors.NoSuchJob(f"Job {job_id} does not exist.")
        self.finish_job(job, JobResult.CANCELED)

    def clear_jobs(self) -> None:
        for job in list(self.jobs.values()):
            self.finish_job(job, JobResult.CANCELED)

    def finish_job(self, job: Job, result: JobResult) -> None:
        if self.jobs.get(job.id) is not job:
            return
        u = job.unit
        if job.type is JobType.RESTART and result is JobResult.DONE and job.state is JobState.RUNNING \
                and not job.reloaded:
            # The stop half of a restart is done: the same job now starts the unit.
            job.reloaded = True
            job.type = JobType.START
            job.state = JobState.WAITING
            self._emit("job_changed", job)
            self._store_job(job)
            self._schedule_run_queue()
            return
        job.disarm()
        job.result = result
        del self.jobs[job.id]
        if u.job is job:
            u.job = None
        if self.store is not None:
            self.store.delete_job(job.id)
        shown = JobType.START if job.type in (JobType.VERIFY_ACTIVE, JobType.RESTART) else job.type
        msg = _DONE_MESSAGES.get((shown, result))
        if msg and not (job.type is JobType.VERIFY_ACTIVE and result is JobResult.DONE):
            level = logging.INFO if result is JobResult.DONE else logging.ERROR
            self.log.log(level, "%s", msg.format(u.description))
            u.log(msg.format(u.description))
        u.notify_changed()
        self.flush_store()
        self._emit("job_removed", job)
        if result is not JobResult.DONE and job.type in (JobType.START, JobType.VERIFY_ACTIVE):
            for dep in PROPAGATE_START_FAILURE:
                for other in u.dep_units(dep):
                    oj = other.job
                    if oj is not None and oj.type in (JobType.START, JobType.VERIFY_ACTIVE):
                        self.finish_job(oj, JobResult.DEPENDENCY)
        self._schedule_run_queue()
        self._check_idle()
        self.schedule_gc(u)

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
        for u in candidates:
            if self._may_gc(u):
                self._collect(u)

    def _may_gc(self, u: Unit) -> bool:
        if self.units.get(u.id) is not u or u.job is not None or u.transient or self.shutting_down:
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
        self._emit("unit_removed", u)

    def _schedule_run_queue(self) -> None:
        if not self._run_queue_scheduled:
            self._run_queue_scheduled = True
            self.loop.call_soon(self._dispatch_run_queue)

    def _dispatch_run_queue(self) -> None:
        self._run_queue_scheduled = False
        progressed = True
        while progressed:
            progressed = False
            for job in sorted(self.jobs.values(), key=lambda j: j.id):
                if job.state is not JobState.WAITING or self.jobs.get(job.id) is not job:
                    continue
                if not job.is_runnable():
                    continue
                if self._run_job(job):
                    progressed = True

    def _run_job(self, job: Job) -> bool:
        """Run a waiting job. True if something changed (so other jobs may be runnable now)."""
        u = job.unit
        job.state = JobState.RUNNING
        job.activation_usec = DualTimestamp.now().monotonic
        t = job.type
        if t is JobType.NOP:
            self.finish_job(job, JobResult.DONE)
            return True
        if t is JobType.VERIFY_ACTIVE:
            self.finish_job(job, JobResult.DONE if u.active_state.is_active_or_reloading() else JobResult.DEPENDENCY)
            return True
        op = {JobType.START: u.start, JobType.STOP: u.stop, JobType.RESTART: u.stop,
              JobType.RELOAD: u.reload}.get(t)
        if op is None:
            self.finish_job(job, JobResult.INVALID)
            return True
        self._emit("job_changed", job)
        self._store_job(job)
        try:
            r = op()
        except Exception:
            self.log.exception("%s: %s failed", u.id, t.value)
            r = OpResult.FAILED
        if self.jobs.get(job.id) is not job:
            return True  # finished synchronously through unit.notify()
        if r is OpResult.AGAIN:
            job.state = JobState.WAITING
            return False
        if job.type is not t:
            return True  # a restart's stop half completed synchronously and became its start half
        if r is OpResult.STARTED:
            if t is JobType.RESTART and u.active_state.is_inactive_or_failed():
                self.finish_job(job, JobResult.DONE)
            return True
        if t is JobType.RESTART and r is OpResult.ALREADY:
            self.finish_job(job, JobResult.DONE)  # nothing to stop: go on with the start half
            return True
        if t is JobType.RELOAD and r is OpResult.FAILED:
            self.finish_job(job, JobResult.SKIPPED if u.active_state.is_inactive_or_failed() else JobResult.FAILED)
            return True
        self.finish_job(job, _OP_RESULTS.get(r, JobResult.FAILED))
        return True

    def _check_idle(self) -> None:
        if not self.jobs:
            self.idle_pipe.release()
        if not self.jobs and not self.startup_finished_emitted and self.ts["startup"] and not self.shutting_down:
            self.startup_finished_emitted = True
            self.ts["finish"] = DualTimestamp.now()
            took = (self.ts["finish"].monotonic - self.ts["startup"].monotonic) / 1000
            self.log.info("Startup finished in %.0fms.", took)
            self._emit("startup_finished")
        if self.shutting_down and not self.jobs and self.exit_requested is not None:
            cb, self.exit_requested = self.exit_requested, None
            self.loop.call_soon(cb)

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
                self.queue_internal_job(u, JobType.STOP)
        # Upholds=: an active unit keeps the units it upholds running.
        for u in list(self.units_by_id().values()):
            if not u.deps.get(Dep.UPHOLDS) or not u.active_state.is_active_or_reloading():
                continue
            for other in u.dep_units(Dep.UPHOLDS):
                if other.active_state.is_inactive_or_failed() and other.job is None \
                        and other.load_state is LoadState.LOADED:
                    self.log.info("%s: Unit is upheld by active unit %s, starting.", other.id, u.id)
                    self.queue_internal_job(other, JobType.START)

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

    # -- processes ------------------------------------------------------------------------------

    def spawn(self, u: Unit, cmd: ExecCommand, extra_env: dict[str, str], wait_exec: bool = False,
              idle: bool = False) -> int | None:
        """Fork/exec a command of a unit; returns the PID, or None if it could not be forked.
        `idle`: the child waits before exec until no jobs are left (Type=idle)."""
        assert u.config is not None
        ctx = u.config.exec
        env = self._environment_for(u, extra_env)
        privileged = bool(cmd.flags & (ExecFlag.FULL_PRIVILEGES | ExecFlag.AMBIENT_PRIVILEGES))
        procs = self.cgroups.create(u.id) if self.cgroups is not None else None
        out_kind = ctx.standard_output or self.settings.default_standard_output
        capture = out_kind in (StdOutput.JOURNAL, StdOutput.KMSG, StdOutput.SYSLOG, StdOutput.JOURNAL_AND_CONSOLE,
                               StdOutput.KMSG_AND_CONSOLE, StdOutput.SYSLOG_AND_CONSOLE) or (
            ctx.standard_error in (StdOutput.JOURNAL, StdOutput.KMSG, StdOutput.SYSLOG))
        rfd = wfd = -1
        if capture:
            rfd, wfd = os.pipe2(os.O_CLOEXEC)
        stdio = StdioPlan(stdout_fd=wfd if out_kind not in (StdOutput.NULL,) and capture else None,
                          stderr_fd=wfd if capture else None, stdin_data=ctx.standard_input_data)
        if out_kind is StdOutput.INHERIT:
            stdio.stdout_fd = 1
        req = SpawnRequest(cmd, ctx, env, procs, stdio, apply_credentials=not privileged,
                           runtime_dirs=self.directory_bases(),
                           default_directory="/" if self.is_system else self.settings.environ.get("HOME", "/"),
                           need_exec_report=wait_exec,
                           idle_fds=self.idle_pipe.for_child() if idle and self.jobs else None,
                           limits={**self.settings.default_limits, **ctx.limits})
        try:
            spawned = spawn(req)
        except OSError as e:
            self.log.error("%s: Failed to fork: %s", u.id, e)
            for fd in (rfd, wfd):
                if fd >= 0:
                    os.close(fd)
            return None
        if wfd >= 0:
            os.close(wfd)
            self._follow_output(u, spawned.pid, rfd)
        self.watched[spawned.pid] = u
        if spawned.error_fd >= 0:
            self.loop.add_reader(spawned.error_fd, self._read_spawn_report, u, spawned.pid, spawned.error_fd)
        self.log.debug("%s: spawned %s as %d", u.id, cmd.path, spawned.pid)
        return spawned.pid

    def _environment_for(self, u: Unit, extra: dict[str, str]) -> dict[str, str]:
        assert u.config is not None
        ctx = u.config.exec
        env = dict(self.environment)
        env["INVOCATION_ID"] = u.invocation_id.hex()
        if ctx.user:
            try:
                pw = pwd.getpwuid(int(ctx.user)) if ctx.user.isdigit() else pwd.getpwnam(ctx.user)
                env.update(USER=pw.pw_name, LOGNAME=pw.pw_name, HOME=pw.pw_dir, SHELL=pw.pw_shell)
            except (KeyError, ValueError):
                pass
        for kind, (paths, _mode) in _dir_settings(u).items():
            base = self.directory_bases().get(kind)
            if paths and base:
                env[f"{kind.upper()}_DIRECTORY"] = ":".join(os.path.join(base, p) for p in paths)
        env.update(extra)
        for name in ctx.pass_environment:
            if name in self.settings.environ:
                env[name] = self.settings.environ[name]
        env.update(ctx.environment)
        for ef in ctx.environment_files:
            try:
                for k, v in read_environment_file(ef.path):
                    env[k] = v
            except OSError as e:
                if not ef.optional:
                    self.log.error("%s: Failed to load environment files: %s", u.id, e)
        for name in ctx.unset_environment:
            if "=" in name:
                k, v = name.split("=", 1)
                if env.get(k) == v:
                    del env[k]
            else:
                env.pop(name, None)
        return env

    def directory_bases(self) -> dict[str, str]:
        if self.is_system:
            return {"runtime": "/run", "state": "/var/lib", "cache": "/var/cache", "logs": "/var/log",
                    "configuration": "/etc"}
        home = self.settings.environ.get("HOME") or os.path.expanduser("~")
        config = self.settings.environ.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
        return {"runtime": self.settings.environ.get("XDG_RUNTIME_DIR", ""),
                "state": config,
                "cache": self.settings.environ.get("XDG_CACHE_HOME") or os.path.join(home, ".cache"),
                "logs": os.path.join(config, "log"), "configuration": config}

    def _follow_output(self, u: Unit, pid: int, fd: int) -> None:
        os.set_blocking(fd, False)
        buf = bytearray()
        ident = (u.config.exec.syslog_identifier if u.config else None) or None

        def on_readable() -> None:
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                return
            except OSError:
                chunk = b""
            if chunk:
                buf.extend(chunk)
                while b"\n" in buf:
                    line, _, rest = bytes(buf).partition(b"\n")
                    buf[:] = rest
                    self._unit_output(u, ident, pid, line)
                if len(buf) > 8192:
                    self._unit_output(u, ident, pid, bytes(buf))
                    buf.clear()
                return
            if buf:
                self._unit_output(u, ident, pid, bytes(buf))
            self.loop.remove_reader(fd)
            os.close(fd)

        self.loop.add_reader(fd, on_readable)

    def _unit_output(self, u: Unit, ident: str | None, pid: int, line: bytes) -> None:
        text = line.decode("utf-8", "replace").rstrip("\r")
        name = ident or process_name(pid) or u.id
        u.log(f"{name}[{pid}]: {text}")
        self.log.info("%s[%d]: %s", name, pid, text)

    def _read_spawn_report(self, u: Unit, pid: int, fd: int) -> None:
        try:
            data = os.read(fd, 8192)
        except OSError:
            data = b""
        self.loop.remove_reader(fd)
        os.close(fd)
        report = parse_report(data)
        if report is None:
            if u.impl is not None:
                u.impl.exec_succeeded(pid)
            return
        _code, message = report
        self.log.error("%s: %s", u.id, message)
        u.log(f"{u.id}: {message}")

    def watch_pid(self, pid: int, u: Unit) -> None:
        """Watch a PID that may not be our child (PIDFile=, MAINPID=, adopted after a restart)."""
        self.watched[pid] = u
        if pid in self._pidfds:
            return
        try:
            fd = os.pidfd_open(pid)
        except OSError:
            return
        self._pidfds[pid] = fd
        self.loop.add_reader(fd, self._pidfd_ready, pid)

    def _pidfd_ready(self, pid: int) -> None:
        fd = self._pidfds.pop(pid, None)
        if fd is not None:
            self.loop.remove_reader(fd)
            os.close(fd)
        # Our child: SIGCHLD reaps it with the real status. Otherwise we only know it is gone.
        try:
            wpid, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            if self.defer_foreign_exit is not None and self.defer_foreign_exit(pid):
                return
            wpid, status = pid, 0
        if wpid == pid:
            self._child_exited(pid, status)

    def report_exit(self, pid: int, status: int) -> None:
        """The exit of a watched PID learnt elsewhere (init's exit reports, recovery)."""
        self._child_exited(pid, status)

    def reap_now(self) -> None:
        self._reap()

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self._child_exited(pid, status)

    def _child_exited(self, pid: int, status: int) -> None:
        fd = self._pidfds.pop(pid, None)
        if fd is not None:
            self.loop.remove_reader(fd)
            os.close(fd)
        u = self.watched.pop(pid, None)
        if u is None or u.impl is None:
            return
        try:
            u.impl.child_exited(pid, status)
        except Exception:
            self.log.exception("%s: handling exit of PID %d failed", u.id, pid)
        self._schedule_run_queue()

    def unit_pids(self, u: Unit, roots: list[int]) -> list[int]:
        if self.cgroups is not None and self.cgroups.enabled:
            return self.cgroups.pids(u.id)
        out: list[int] = []
        for r in roots:
            out += [p for p in process_tree(r) if p not in out]
        return out

    def cgroups_empty(self, u: Unit) -> bool:
        if self.cgroups is not None and self.cgroups.enabled:
            return self.cgroups.is_empty(u.id)
        return True

    def kill_unit_processes(self, u: Unit, signo: int, exclude: frozenset[int], roots: list[int]) -> list[int]:
        if self.cgroups is not None and self.cgroups.enabled:
            return self.cgroups.kill(u.id, signo, exclude)
        sent = []
        for pid in self.unit_pids(u, roots):
            if pid not in exclude and send_signal(pid, signo):
                sent.append(pid)
        return sent

    def cgroup_cleanup(self, u: Unit) -> None:
        """The unit stopped: drop its empty cgroup and RuntimeDirectory= unless preserved."""
        if self.cgroups is not None and self.cgroups.is_empty(u.id):
            self.cgroups.remove(u.id)
        if u.config is None or u.config.exec.runtime_directory_preserve != "no":
            return
        base = self.directory_bases().get("runtime")
        if not base:
            return
        import shutil

        for d in u.config.exec.runtime_directory:
            shutil.rmtree(os.path.join(base, d.path), ignore_errors=True)

    def is_tracked(self, pid: int) -> bool:
        """Whether the PID is watched and its exit not handled yet."""
        return pid in self.watched

    def unit_of_pid(self, pid: int) -> Unit | None:
        if pid in self.watched:
            return self.watched[pid]
        for u in self.units_by_id().values():
            if u.impl is not None and pid and pid in u.impl.pids().values():
                return u
        if self.cgroups is not None:
            name = self.cgroups.unit_of_pid(pid)
            if name:
                return self.units.get(name)
        return None

    def _on_notify(self, pid: int, fields: dict[str, str], fds: list[int]) -> None:
        u = self.unit_of_pid(pid)
        if u is None or u.impl is None:
            self.log.debug("Cannot find unit for notify message of PID %d, ignoring.", pid)
            for fd in fds:
                os.close(fd)
            return
        in_unit = self.cgroups is not None and self.cgroups.unit_of_pid(pid) == u.id
        why = u.impl.accepts_notify_from(pid, in_unit)
        if why:
            self.log.warning("%s: %s", u.id, why)
            for fd in fds:
                os.close(fd)
            return
        u.impl.notify_message(pid, fields, fds)

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
                    self.watch_pid(pid, u)
        self._next_job_id = max(int(self.store.get_meta("next_job_id", 1) or 1), self._next_job_id)
        for jd in self.store.jobs():
            ju = self.units.get(jd.get("unit", ""))
            if ju is None or ju.job is not None:
                self.store.delete_job(int(jd["id"]))
                continue
            # Same id as before, so clients waiting for its JobRemoved still get it.
            job = Job(self, int(jd["id"]), ju, JobType(jd["type"]), bool(jd.get("irreversible")),
                      bool(jd.get("ignore_order")))
            self.jobs[job.id] = job
            ju.job = job
            self._next_job_id = max(self._next_job_id, job.id + 1)
        report = recovery.reconcile(self, saved, exit_reports or {})
        report.intents = intents
        if saved or intents:
            self.log.info("Recovery: %s.", report.describe())
        self._schedule_run_queue()
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
        self._emit("reloading", True)
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
        self._emit("reloading", False)
        self._emit("unit_files_changed")
        self._schedule_run_queue()

    def reexecute(self) -> None:
        """daemon-reexec: the state is in the store already; the daemon execs itself in place."""
        if self.on_reexec_request is None:
            raise errors.NotSupported("Re-executing is not supported in this mode.")
        self.on_reexec_request()

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
                self.request_poweroff({"soft": "reboot", "kexec": "reboot"}.get(kind, kind))
        except errors.ManagerError as e:
            self.log.error("%s: cannot act on it: %s", reason, e.message)

    def request_poweroff(self, kind: str) -> None:
        """PowerOff()/Reboot()/Halt(): stop every unit, then init (if any) ends the machine, else
        the daemon exits. ``kind``: poweroff, reboot or halt."""
        if kind not in ("poweroff", "reboot", "halt"):
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
            return self.add_job(name, JobType.START, JobMode.ISOLATE if self._allow_isolate(name) else JobMode.REPLACE,
                                manual=False)
        except errors.ManagerError as e:
            self.log.error("Failed to start %s: %s", name, e.message)
            self._check_idle()
            return None

    def _allow_isolate(self, name: str) -> bool:
        u = self.load_unit(name)
        return bool(u.config and u.config.unit.allow_isolate)

    def begin_shutdown(self, on_done: Callable[[], None]) -> None:
        """Stop every unit (in reverse dependency order, through stop jobs), then call on_done."""
        self.shutting_down = True
        for job in list(self.jobs.values()):
            if job.type is not JobType.STOP:
                self.finish_job(job, JobResult.CANCELED)
        for u in list(self.units_by_id().values()):
            if not u.active_state.is_inactive_or_failed() or u.job is not None:
                try:
                    self.add_job(u.id, JobType.STOP, JobMode.REPLACE, manual=False)
                except errors.ManagerError as e:
                    self.log.warning("%s: cannot stop: %s", u.id, e.message)
        # Only now: while the cancels above ran, an empty job list did not mean "all stopped".
        self.exit_requested = on_done
        self._check_idle()

    def n_failed_units(self) -> int:
        return sum(1 for u in self.units_by_id().values() if u.active_state is ActiveState.FAILED)

    def system_state(self) -> str:
        if self.shutting_down:
            return "stopping"
        if not self.startup_finished_emitted:
            return "starting"
        return "degraded" if self.n_failed_units() else "running"


def _dir_settings(u: Unit) -> dict[str, tuple[list[str], int]]:
    return directory_settings(u.config.exec) if u.config else {}


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
