"""The unit: what every unit type shares (name, load state, dependencies, job, timestamps, conditions).

Type-specific behaviour lives behind `self.impl` (a UnitType). State changes of the type come back
through `notify()`, which does what systemd's unit_notify() does: timestamps, job completion,
OnFailure=/OnSuccess=, BindsTo= propagation, persistence and observer callbacks.
"""

from __future__ import annotations

import collections
import logging
import uuid
from typing import TYPE_CHECKING, Any

from compat.model import ConditionKind, JobMode, UnitConfig, UnitKind
from sysmasterd.core import errors, freezer, journal_log
from sysmasterd.core.clock import DualTimestamp, now_monotonic_usec
from sysmasterd.core.conditions import ConditionOutcome, evaluate
from sysmasterd.core.dependency import CONFIG_DEPS, Dep
from sysmasterd.core.states import ActiveState, JobResult, JobState, JobType, LoadState
from sysmasterd.core.unittype import Context, KillWho, OpResult, TypeDescriptor, UnitType

if TYPE_CHECKING:
    from compat.loader import LoadedUnit
    from sysmasterd.core.job import Job
    from sysmasterd.core.manager import Manager

TIMESTAMP_NAMES = ("inactive_exit", "active_enter", "active_exit", "inactive_enter", "state_change",
                   "condition", "assert")
LOG_LINES_KEPT = 200


def unit_kind(name: str) -> UnitKind | None:
    suffix = name.rsplit(".", 1)[-1] if "." in name else ""
    try:
        return UnitKind(suffix)
    except ValueError:
        return None


class Unit:
    def __init__(self, manager: Manager, name: str) -> None:
        self.manager = manager
        self.id = name
        self.names: set[str] = {name}
        self.kind = unit_kind(name) or UnitKind.SERVICE
        self.load_state = LoadState.STUB
        self.load_error: str | None = None
        self.fragment_path = ""
        self.source_path = ""
        self.dropin_paths: list[str] = []
        self.unit_file_state = ""
        self.diagnostics: list[str] = []
        self.config: UnitConfig | None = None
        self.deps: dict[Dep, set[str]] = collections.defaultdict(set)
        self.impl: UnitType | None = None
        self.job: Job | None = None
        self.ts: dict[str, DualTimestamp] = {n: DualTimestamp() for n in TIMESTAMP_NAMES}
        self.invocation_id = b""
        # systemd's values for a unit whose conditions were never checked.
        self.condition_result = False
        self.assert_result = False
        self.condition_outcomes: list[ConditionOutcome] = []
        self.assert_outcomes: list[ConditionOutcome] = []
        self.start_limit_hits: collections.deque[int] = collections.deque()
        self.log_lines: collections.deque[str] = collections.deque(maxlen=LOG_LINES_KEPT)
        self._last_state = ActiveState.INACTIVE
        self.transient = False
        # systemd's Markers=: needs-reload/needs-restart, set by clients, acted on by EnqueueMarkedJobs().
        self.markers: set[str] = set()
        # Always there and never stopped (-.slice, init.scope, system.slice in the system manager).
        self.perpetual = False

    # -- loading --------------------------------------------------------------------------------

    def apply_load(self, loaded: LoadedUnit) -> None:
        """Take the result of compat's loader: config, paths, names, dependencies from the files."""
        from sysmasterd.units import descriptor
        from sysmasterd.units.unsupported import Unsupported

        self.load_state = LoadState(loaded.load_state)
        self.load_error = loaded.load_error
        self.fragment_path = loaded.fragment_path or ""
        self.dropin_paths = list(loaded.dropin_paths)
        self.unit_file_state = loaded.unit_file_state or ""
        # A file in the transient directory makes the unit transient, after a reload or restart too.
        self.transient = self.unit_file_state == "transient"
        self.diagnostics = [str(d) for d in loaded.diagnostics]
        self.config = loaded.config
        self.names |= set(loaded.names)
        fileless = descriptor(self.kind).loads_without_file
        if self.load_state is LoadState.NOT_FOUND and fileless is not None and fileless(self):
            from compat.config import build_config

            self.load_state, self.load_error = LoadState.LOADED, None
            self.config = build_config(self.id, self.kind, [], self.manager.loader.facts, verify=False).config
        if self.config is not None:
            self.kind = self.config.kind
            self.source_path = self.config.unit.source_path
        # A unit whose file vanished keeps its running processes (and type) until stopped.
        cls = descriptor(self.kind).impl if self.load_state is LoadState.LOADED else Unsupported
        if self.impl is None or (self.load_state is LoadState.LOADED and type(self.impl) is not cls):
            self.impl = cls(self)

    def add_config_dependencies(self) -> None:
        if self.config is None:
            return
        section = self.config.unit
        for attr, dep in CONFIG_DEPS:
            for other in getattr(section, attr):
                if dep is Dep.JOINS_NAMESPACE_OF:
                    self.manager.log.debug("%s: JoinsNamespaceOf=%s ignored: namespaces are not supported",
                                           self.id, other)
                    continue
                self.manager.add_dependency(self, dep, other)
        if section.requires_mounts_for:
            from sysmasterd.units.mount import require_mounts_for

            for path in section.requires_mounts_for:
                require_mounts_for(self, path)
        if self.impl is not None:
            self.impl.add_implicit_dependencies()
        slice_name = self.slice_name()
        if slice_name:  # whatever DefaultDependencies= says, as systemd's unit_add_slice_dependencies
            self.manager.add_dependency(self, Dep.REQUIRES, slice_name)
            self.manager.add_dependency(self, Dep.AFTER, slice_name)
        if section.default_dependencies and self.impl is not None:
            self.impl.add_default_dependencies()

    def make_perpetual(self, description: str) -> None:
        """Mark the unit as always there, and start it unless it runs (a restore may say so)."""
        self.perpetual = True
        if self.config is not None and not self.config.unit.description:
            self.config.unit.description = description
        if self.impl is not None and self.active_state.is_inactive_or_failed():
            self.impl.start()

    def slice_name(self) -> str | None:
        """The slice the unit's cgroup lives in: a slice's parent, Slice=, or the default."""
        from sysmasterd.units.slice import default_slice, parent_slice

        if not self.type.contexts & Context.CGROUP:
            return None
        if self.kind is UnitKind.SLICE:
            return parent_slice(self.id)
        configured = self.config.cgroup.slice if self.config is not None else ""
        return configured or default_slice(self)

    def cgroup_path(self) -> str:
        """The unit's cgroup below the manager's subtree, as systemd lays it out
        ("system.slice/foo.service"; a slice is its own nesting)."""
        from sysmasterd.units.slice import slice_path

        if self.kind is UnitKind.SLICE:
            return slice_path(self.id)
        slice_name = self.slice_name()
        prefix = slice_path(slice_name) if slice_name else ""
        return f"{prefix}/{self.id}" if prefix else self.id

    def check_loaded_for_job(self) -> None:
        from sysmasterd.core.transaction import unit_load_error

        err = unit_load_error(self)
        if err is not None:
            raise err

    # -- dependencies ---------------------------------------------------------------------------

    def dep_units(self, dep: Dep) -> list[Unit]:
        out = []
        for name in sorted(self.deps.get(dep, ())):
            u = self.manager.get_unit(name)
            if u is not None:
                out.append(u)
        return out

    # -- state ----------------------------------------------------------------------------------

    @property
    def active_state(self) -> ActiveState:
        if self.impl is None:
            return ActiveState.INACTIVE
        return self.impl.active_state()

    @property
    def sub_state(self) -> str:
        return self.impl.sub_state() if self.impl is not None else "dead"

    @property
    def type(self) -> TypeDescriptor:
        from sysmasterd.units import descriptor

        return descriptor(self.kind)

    @property
    def description(self) -> str:
        if self.config is not None and self.config.unit.description:
            return self.config.unit.description
        return self.id

    def can_reload(self) -> bool:
        return self.impl is not None and self.impl.can_reload()

    def ignore_on_isolate(self) -> bool:
        return self.type.ignored_on_isolate or (self.config is not None and self.config.unit.ignore_on_isolate)

    def refuse_manual(self, job_type: JobType) -> bool:
        if self.config is None:
            return False
        if job_type in (JobType.START, JobType.RESTART, JobType.RELOAD_OR_START, JobType.TRY_RESTART,
                        JobType.VERIFY_ACTIVE):
            return self.config.unit.refuse_manual_start
        if job_type is JobType.STOP:
            return self.config.unit.refuse_manual_stop
        return False

    def log(self, line: str) -> None:
        """A line of the unit's own output or of the manager about it, kept for status."""
        self.log_lines.append(line)

    # -- operations (called by jobs) ------------------------------------------------------------

    def start(self) -> OpResult:
        assert self.impl is not None
        state = self.active_state
        if state.is_active_or_reloading():
            return OpResult.ALREADY
        if state is ActiveState.MAINTENANCE:
            return OpResult.AGAIN
        if self.load_state is not LoadState.LOADED:
            return OpResult.FAILED
        if state is not ActiveState.ACTIVATING:
            if not self._check_conditions():
                self.manager.log.info("%s: %s was skipped because of an unmet condition check (%s).",
                                      self.id, self.description, self._failed_condition_text())
                return OpResult.CONDITION_FAILED
            if not self._check_asserts():
                self.manager.log.warning("%s: Assertion failed for %s.", self.id, self.description)
                return OpResult.ASSERT_FAILED
        freezer.thaw_for_job(self)
        return self.impl.start()

    def stop(self) -> OpResult:
        assert self.impl is not None
        if self.active_state.is_inactive_or_failed():
            return OpResult.ALREADY
        freezer.thaw_for_job(self)
        return self.impl.stop()

    def reload(self) -> OpResult:
        assert self.impl is not None
        state = self.active_state
        if state is ActiveState.RELOADING:
            return OpResult.AGAIN
        if not state.is_active_or_reloading():
            return OpResult.FAILED
        if not self.impl.can_reload():
            return OpResult.UNSUPPORTED
        freezer.thaw_for_job(self)
        return self.impl.reload()

    def kill(self, who: KillWho, signo: int) -> list[int]:
        if self.impl is None:
            return []
        return self.impl.kill(who, signo)

    def reset_failed(self) -> None:
        self.start_limit_hits.clear()
        if self.impl is not None:
            self.impl.reset_failed()
        self.notify_changed()

    def _check_conditions(self) -> bool:
        if self.config is None:
            return True
        res = evaluate(self.config.unit.conditions, ConditionKind.CONDITION, self.manager.environ_for_conditions())
        self.ts["condition"] = DualTimestamp.now()
        self.condition_result = res.passed
        self.condition_outcomes = res.outcomes
        return res.passed

    def _check_asserts(self) -> bool:
        if self.config is None:
            return True
        res = evaluate(self.config.unit.conditions, ConditionKind.ASSERT, self.manager.environ_for_conditions())
        self.ts["assert"] = DualTimestamp.now()
        self.assert_result = res.passed
        self.assert_outcomes = res.outcomes
        return res.passed

    def _failed_condition_text(self) -> str:
        for o in self.condition_outcomes:
            if not o.result:
                neg = "!" if o.condition.negate else ""
                trig = "|" if o.condition.trigger else ""
                return f"Condition{o.condition.name}={trig}{neg}{o.condition.parameter}"
        return "conditions"

    def test_start_limit(self) -> bool:
        """Record a start; False when StartLimitBurst starts happened within StartLimitIntervalSec."""
        interval = self.manager.settings.default_start_limit_interval_usec
        burst = self.manager.settings.default_start_limit_burst
        if self.config is not None:
            if self.config.unit.start_limit_interval_usec is not None:
                interval = self.config.unit.start_limit_interval_usec
            if self.config.unit.start_limit_burst is not None:
                burst = self.config.unit.start_limit_burst
        if interval == 0 or burst == 0:
            return True
        now = now_monotonic_usec()
        while self.start_limit_hits and now - self.start_limit_hits[0] > interval:
            self.start_limit_hits.popleft()
        if len(self.start_limit_hits) >= burst:
            self.manager.log.warning("%s: Start request repeated too quickly.", self.id)
            if self.config is not None:
                self.manager.emergency_action(self.config.unit.start_limit_action, f"unit {self.id} failed")
            return False
        self.start_limit_hits.append(now)
        return True

    # -- notifications from the type ------------------------------------------------------------

    def new_invocation(self) -> None:
        self.invocation_id = uuid.uuid4().bytes

    def notify(self, reload_success: bool = True) -> None:
        """The type's state may have changed: do everything that follows from a state change."""
        old, new = self._last_state, self.active_state
        if old is new:
            self.notify_changed()
            return
        self._last_state = new
        now = DualTimestamp.now()
        self.ts["state_change"] = now
        if old.is_inactive_or_failed() and not new.is_inactive_or_failed():
            self.ts["inactive_exit"] = now
        if new.is_active_or_reloading() and not old.is_active_or_reloading():
            self.ts["active_enter"] = now
        if old.is_active_or_reloading() and not new.is_active_or_reloading():
            self.ts["active_exit"] = now
        if new.is_inactive_or_failed() and not old.is_inactive_or_failed():
            self.ts["inactive_enter"] = now
        # A stop or reload does what a marker asked for.
        if new.is_inactive_or_failed():
            self.markers.clear()
        elif new is ActiveState.RELOADING:
            self.markers.discard("needs-reload")

        if new.is_inactive_or_failed() and not old.is_inactive_or_failed():
            self._log_result(new)  # before the job's message, as systemd's unit_log_result()
        unexpected = self._update_job(old, new, reload_success)
        if new.is_inactive_or_failed() and not old.is_inactive_or_failed():
            self._on_deactivated(new, unexpected)
        if unexpected and old.is_inactive_or_failed() and new.is_active_or_activating():
            self._retroactively_start_dependencies()
        if new.is_active_or_reloading() and self.deps.get(Dep.UPHOLDS):
            self.manager.check_unneeded_soon()
        self.manager.unit_state_changed(self, old, new)
        self.notify_triggers()
        self.notify_changed()

    def notify_triggers(self) -> None:
        """Tell the units that trigger this one (a path's or timer's unit) that its state or job
        changed (systemd's unit_trigger_notify())."""
        for trigger in self.dep_units(Dep.TRIGGERED_BY):
            if trigger.impl is not None:
                trigger.impl.trigger_notify(self)

    def notify_changed(self) -> None:
        self.manager.unit_changed(self)

    def _update_job(self, old: ActiveState, new: ActiveState, reload_success: bool) -> bool:
        """Finish the unit's job if the new state completes it. True if the change was unexpected."""
        job = self.job
        if job is None:
            return True
        unexpected = False
        m = self.manager
        if job.state is not JobState.RUNNING:
            return not (new is ActiveState.ACTIVATING or new is ActiveState.DEACTIVATING)
        if job.type in (JobType.START, JobType.VERIFY_ACTIVE):
            if new.is_active_or_reloading():
                m.engine.finish_job(job, JobResult.DONE)
            elif new is not ActiveState.ACTIVATING:
                unexpected = True
                if new.is_inactive_or_failed():
                    m.engine.finish_job(job, JobResult.FAILED if new is ActiveState.FAILED else JobResult.DONE)
        elif job.type in (JobType.RELOAD, JobType.RELOAD_OR_START, JobType.TRY_RELOAD):
            if new is ActiveState.ACTIVE:
                m.engine.finish_job(job, JobResult.DONE if reload_success else JobResult.FAILED)
            elif new not in (ActiveState.ACTIVATING, ActiveState.RELOADING):
                unexpected = True
                if new.is_inactive_or_failed():
                    m.engine.finish_job(job, JobResult.FAILED)
        elif job.type in (JobType.STOP, JobType.RESTART, JobType.TRY_RESTART):
            if new.is_inactive_or_failed():
                m.engine.finish_job(job, JobResult.DONE)
            elif new is not ActiveState.DEACTIVATING:
                unexpected = True
                m.engine.finish_job(job, JobResult.FAILED)
        return unexpected

    def _retroactively_start_dependencies(self) -> None:
        """Up without a job asking (a device plugged, a mount seen): what the unit requires or
        wants starts now, what it conflicts with stops, as if a start job had pulled them in
        (systemd's retroactively_start_dependencies)."""
        engine = self.manager.engine
        after = self.deps.get(Dep.AFTER, set())
        for dep, mode in ((Dep.REQUIRES, JobMode.REPLACE), (Dep.BINDS_TO, JobMode.REPLACE),
                          (Dep.UPHOLDS, JobMode.REPLACE), (Dep.WANTS, JobMode.FAIL)):
            for other in self.dep_units(dep):
                if other.id not in after and not other.active_state.is_active_or_activating():
                    engine.queue_internal_job(other, JobType.START, mode)
        for dep in (Dep.CONFLICTS, Dep.CONFLICTED_BY):
            for other in self.dep_units(dep):
                if other.active_state not in (ActiveState.INACTIVE, ActiveState.FAILED, ActiveState.DEACTIVATING):
                    engine.queue_internal_job(other, JobType.STOP)

    def _log_result(self, new: ActiveState) -> None:
        m = self.manager
        if new is ActiveState.FAILED:
            result = self.impl.result() if self.impl else "?"
            m.log.warning("%s: Failed with result '%s'.", self.id, result,
                          extra=journal_log.unit_fields(self.id, {"MESSAGE_ID": journal_log.UNIT_FAILURE_RESULT,
                                                                  "UNIT_RESULT": result}))
        elif self.kind in (UnitKind.SERVICE, UnitKind.SOCKET):  # the types calling unit_log_success()
            m.log.log(logging.INFO if m.is_system else logging.DEBUG, "%s: Deactivated successfully.", self.id,
                      extra=journal_log.unit_fields(self.id, {"MESSAGE_ID": journal_log.UNIT_SUCCESS}))

    def _on_deactivated(self, new: ActiveState, unexpected: bool) -> None:
        m = self.manager
        if new is ActiveState.FAILED:
            for other in self.dep_units(Dep.ON_FAILURE):
                m.engine.queue_triggered_job(other, self, "OnFailure")
            if self.config is not None:
                m.emergency_action(self.config.unit.failure_action, f"unit {self.id} failed")
        else:
            for other in self.dep_units(Dep.ON_SUCCESS):
                m.engine.queue_triggered_job(other, self, "OnSuccess")
            if self.config is not None:
                m.emergency_action(self.config.unit.success_action, f"unit {self.id} succeeded")
        # BindsTo=: units bound to this one go down with it, job or not.
        for other in self.dep_units(Dep.BOUND_BY):
            if not other.active_state.is_inactive_or_failed() and (other.job is None
                                                                   or other.job.type is not JobType.STOP):
                m.log.info("%s: Unit is bound to inactive unit %s. Stopping, too.", other.id, self.id)
                m.engine.queue_internal_job(other, JobType.STOP)
        m.check_unneeded_soon()

    # -- persistence ----------------------------------------------------------------------------

    def serialize(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "ts": {k: v.to_list() for k, v in self.ts.items() if v},
            "invocation_id": self.invocation_id.hex(),
            "condition_result": self.condition_result,
            "assert_result": self.assert_result,
            "start_limit_hits": list(self.start_limit_hits),
            "markers": sorted(self.markers),
            "impl": self.impl.serialize() if self.impl is not None else {},
        }

    def deserialize(self, data: dict[str, Any]) -> None:
        for k, v in data.get("ts", {}).items():
            if k in self.ts:
                self.ts[k] = DualTimestamp.from_list(v)
        self.invocation_id = bytes.fromhex(data.get("invocation_id", ""))
        self.condition_result = bool(data.get("condition_result", False))
        self.assert_result = bool(data.get("assert_result", False))
        self.start_limit_hits = collections.deque(int(x) for x in data.get("start_limit_hits", []))
        self.markers = set(data.get("markers", []))
        if self.impl is not None:
            self.impl.deserialize(data.get("impl", {}))
        self._last_state = self.active_state


def check_job_allowed(unit: Unit, job_type: JobType) -> None:
    """Refusals that apply only to jobs asked for by a client, not to those pulled in."""
    if unit.refuse_manual(job_type):
        raise errors.OnlyByDependency(
            f"Operation refused, unit {unit.id} may be requested by dependency only (it is configured to "
            f"refuse manual start/stop).")
