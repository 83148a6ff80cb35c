"""The job engine: jobs requested by clients, dependencies and unit types, from transaction to
result (systemd's job queue in manager.c/job.c). It runs each waiting job once its ordering allows,
asks the unit's type to act, and reports results (JobRemoved, the store, the log)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from compat.model import JobMode
from sysmasterd.core import errors, journal_log
from sysmasterd.core.clock import DualTimestamp
from sysmasterd.core.dependency import PROPAGATE_START_FAILURE
from sysmasterd.core.job import Job, collapse, merge
from sysmasterd.core.states import ActiveState, JobResult, JobState, JobType
from sysmasterd.core.transaction import Transaction
from sysmasterd.core.unit import check_job_allowed
from sysmasterd.core.unittype import OpResult

if TYPE_CHECKING:
    from sysmasterd.core.manager import Manager
    from sysmasterd.core.unit import Unit

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

# systemd's job_done_mid(): a start ends in "started" or "failed" whatever went wrong.
_DONE_MESSAGE_IDS = {JobType.START: (journal_log.UNIT_STARTED, journal_log.UNIT_FAILED),
                     JobType.STOP: (journal_log.UNIT_STOPPED,) * 2, JobType.RESTART: (journal_log.UNIT_STOPPED,) * 2,
                     JobType.RELOAD: (journal_log.UNIT_RELOADED,) * 2}
_START_MESSAGES = {JobType.START: ("Starting {}...", journal_log.UNIT_STARTING),
                   JobType.STOP: ("Stopping {}...", journal_log.UNIT_STOPPING),
                   JobType.RESTART: ("Stopping {}...", journal_log.UNIT_STOPPING),
                   JobType.RELOAD: ("Reloading {}...", journal_log.UNIT_RELOADING)}

# The state a unit is in while a job of each type is under way. A restart's stop half: a
# service waiting in auto-restart is "activating" too, and its restart job has not begun then.
_UNDER_WAY = {JobType.START: ActiveState.ACTIVATING, JobType.STOP: ActiveState.DEACTIVATING,
              JobType.RESTART: ActiveState.DEACTIVATING, JobType.RELOAD: ActiveState.RELOADING}

_OP_RESULTS = {OpResult.ALREADY: JobResult.DONE, OpResult.CONDITION_FAILED: JobResult.DONE,
               OpResult.ASSERT_FAILED: JobResult.ASSERT, OpResult.UNSUPPORTED: JobResult.UNSUPPORTED,
               OpResult.FAILED: JobResult.FAILED}


class JobEngine:
    def __init__(self, manager: Manager) -> None:
        self.m = manager
        self.jobs: dict[int, Job] = {}
        self._next_job_id = 1
        self._run_queue_scheduled = False

    def add_job(self, name: str, job_type: JobType, mode: JobMode, manual: bool = True) -> Job:
        """Plan and install a transaction for one requested job; returns the anchor job."""
        if self.m.shutting_down and job_type is not JobType.STOP:
            raise errors.ShuttingDown("Refusing to operate on units, shutdown in progress.")
        u = self.m.load_unit(name)
        if manual:
            check_job_allowed(u, job_type)
        if mode is JobMode.ISOLATE:
            if job_type is not JobType.START:
                raise errors.InvalidArgs("Isolate is only valid for start.")
            if not (u.config and u.config.unit.allow_isolate):
                raise errors.NoIsolation("Operation refused, unit may not be isolated.")
        tr = Transaction(self.m, mode)
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
        self.schedule_run_queue()
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
                self.m.emit("job_changed", existing)
                self._store_job(existing)
                return existing
            self.finish_job(existing, JobResult.CANCELED)
        job = Job(self.m, self._next_job_id, u, job_type, irreversible, ignore_order)
        self._next_job_id += 1
        self.jobs[job.id] = job
        u.job = job
        self._store_job(job)
        self.m.emit("job_new", job)
        u.notify_changed()
        return job

    def _store_job(self, job: Job) -> None:
        if self.m.store is not None:
            self.m.store.save_job(job.id, job.serialize())
            self.m.store.set_meta("next_job_id", self._next_job_id)

    def queue_internal_job(self, u: Unit, job_type: JobType, mode: JobMode = JobMode.REPLACE) -> None:
        try:
            self.add_job(u.id, job_type, mode, manual=False)
        except errors.ManagerError as e:
            self.m.log.warning("%s: Failed to enqueue %s job: %s", u.id, job_type.value, e.message)

    def queue_triggered_job(self, target: Unit, trigger: Unit, why: str) -> None:
        mode = trigger.config.unit.on_failure_job_mode if trigger.config else JobMode.REPLACE
        self.m.log.info("%s: Triggering %s= dependencies.", trigger.id, why)
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
            self.m.emit("job_changed", job)
            self._store_job(job)
            self.schedule_run_queue()
            return
        job.disarm()
        job.result = result
        del self.jobs[job.id]
        if u.job is job:
            u.job = None
        if self.m.store is not None:
            self.m.store.delete_job(job.id)
        shown = JobType.START if job.type in (JobType.VERIFY_ACTIVE, JobType.RESTART) else job.type
        msg = (u.impl.job_done_message(shown, result) if u.impl is not None else None) \
            or _DONE_MESSAGES.get((shown, result))
        # A start that did nothing (an unmet condition) gets no message, as in systemd.
        quiet = result is JobResult.DONE and (job.type is JobType.VERIFY_ACTIVE
                                              or (shown is JobType.START and not u.condition_result))
        if msg and not quiet:
            level = logging.INFO if result is JobResult.DONE else logging.ERROR
            fields = {"JOB_ID": str(job.id), "JOB_TYPE": shown.value, "JOB_RESULT": result.value}
            mid = _DONE_MESSAGE_IDS.get(shown)
            if mid:
                fields["MESSAGE_ID"] = mid[0] if result is JobResult.DONE or shown is not JobType.START else mid[1]
            self.m.log.log(level, "%s", msg.format(u.description), extra=journal_log.unit_fields(u.id, fields))
            u.log(msg.format(u.description))
        u.notify_changed()
        # A start that ended without a state change (a condition failed) must reach the triggering
        # path or timer too, or it would wait for the unit forever.
        u.notify_triggers()
        self.m.flush_store()
        self.m.emit("job_removed", job)
        if result is not JobResult.DONE and job.type in (JobType.START, JobType.VERIFY_ACTIVE):
            for dep in PROPAGATE_START_FAILURE:
                for other in u.dep_units(dep):
                    oj = other.job
                    if oj is not None and oj.type in (JobType.START, JobType.VERIFY_ACTIVE):
                        self.finish_job(oj, JobResult.DEPENDENCY)
        self.schedule_run_queue()
        self.check_idle()
        self.m.schedule_gc(u)

    def schedule_run_queue(self) -> None:
        if not self._run_queue_scheduled:
            self._run_queue_scheduled = True
            self.m.loop.call_soon(self._dispatch_run_queue)

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

    def _emit_start_message(self, job: Job, t: JobType) -> None:
        """systemd's job_emit_start_message(), once the unit took the job on."""
        text, mid = _START_MESSAGES[t]
        self.m.log.info("%s", text.format(job.unit.description), extra=journal_log.unit_fields(
            job.unit.id, {"JOB_ID": str(job.id), "JOB_TYPE": t.value, "MESSAGE_ID": mid}))

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
        self.m.emit("job_changed", job)
        self._store_job(job)
        try:
            r = op()
        except Exception:
            self.m.log.exception("%s: %s failed", u.id, t.value)
            r = OpResult.FAILED
        if self.jobs.get(job.id) is not job:
            return True  # finished synchronously through unit.notify()
        if r is OpResult.AGAIN:
            job.state = JobState.WAITING
            return False
        if job.type is not t:
            return True  # a restart's stop half completed synchronously and became its start half
        if r is OpResult.STARTED:
            self._emit_start_message(job, t)
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

    def check_idle(self) -> None:
        if not self.jobs:
            self.m.runtime.idle_pipe.release()
        if not self.jobs and not self.m.startup_finished_emitted and self.m.ts["startup"] and not self.m.shutting_down:
            self.m.startup_finished_emitted = True
            self.m.ts["finish"] = DualTimestamp.now()
            took = (self.m.ts["finish"].monotonic - self.m.ts["startup"].monotonic) / 1000
            self.m.log.info("Startup finished in %.0fms.", took)
            if self.m.cgroups is not None:
                self.m.cgroups.startup_finished()
            self.m.emit("startup_finished")
        if self.m.shutting_down and not self.jobs and self.m.exit_requested is not None:
            cb, self.m.exit_requested = self.m.exit_requested, None
            self.m.loop.call_soon(cb)


    def restore_job(self, data: dict[str, object], u: Unit) -> None:
        """A job of the previous core, with its id, so clients waiting for its JobRemoved get it."""
        job = Job(self.m, int(str(data["id"])), u, JobType(data["type"]), bool(data.get("irreversible")),
                  bool(data.get("ignore_order")))
        if data.get("state") == JobState.RUNNING.value and u.active_state is _UNDER_WAY.get(job.type):
            # The unit is half-way through what the job asked for: its next state change completes
            # the job, as it would have; running the job again would start a oneshot twice.
            job.state = JobState.RUNNING
        self.jobs[job.id] = job
        u.job = job
        self._next_job_id = max(self._next_job_id, job.id + 1)

    def restore_next_id(self, stored: int) -> None:
        self._next_job_id = max(stored, self._next_job_id)
