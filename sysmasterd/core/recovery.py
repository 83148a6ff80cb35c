"""Reconciliation after a restore: what happened to each unit while no core was running.

The store says what the previous core last committed; the world may have moved on since:

- a main or control process died (init reaped it and kept its exit report): the exit is fed to
  the unit as if just seen, so Restart= and the job engine act on the real status;
- a process is alive and is the same one (start time checked against PID reuse): it is simply
  watched again (Manager.restore does that; nothing here changes it);
- a start was under way when the core died, after its intent was written but before the unit's
  new state was: the new process is found (stored main PID, else the unit's cgroup) and adopted,
  so that the restored start job does not start a second one;
- the timers of a state (start/stop timeouts, the restart delay) are re-armed at their original
  deadlines, so the time that passed while no core ran counts.

Nothing here tells clients: no client is connected while the core restores, and the states it
reaches are the ones the old core would have reported.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sysmasterd.core import errors
from sysmasterd.core.cgroup import process_alive, process_start_time
from sysmasterd.init.protocol import ChildExit

if TYPE_CHECKING:
    from sysmasterd.core.manager import Manager
    from sysmasterd.core.unit import Unit

@dataclass
class RecoveryReport:
    adopted: int = 0        # live main/control PIDs watched again
    exits: int = 0          # deaths while no core ran, fed to their units
    exits_unknown: int = 0  # of those, without an exit report (status taken as success)
    exits_awaited: int = 0  # deaths whose report init has yet to send (applied when it comes)
    intents: int = 0        # starts found half-done and completed by adoption
    timers: int = 0         # units whose state timer or poll was re-armed

    def describe(self) -> str:
        return (f"{self.adopted} PIDs re-adopted, {self.exits} exits applied ({self.exits_unknown} without "
                f"status, {self.exits_awaited} awaited from init), {self.intents} interrupted starts adopted, "
                f"{self.timers} timers re-armed")


def wait_status(report: ChildExit) -> int:
    """An init exit report as the raw wait status waitpid() would have given."""
    if report.code == "exited":
        return (report.status & 0xFF) << 8
    return (report.status & 0x7F) | (0x80 if report.code == "dumped" else 0)


def adopt_interrupted_starts(m: Manager, saved: dict[str, dict[str, Any]]) -> int:
    """Before deserializing: rewrite (in ``saved``, the unit table read from the store) the state of
    units whose start outran the last commit, so that they come back with their new process."""
    if m.store is None:
        return 0
    adopted = 0
    # Every intent, not only those of saved units: a unit unloaded while inactive has no record
    # left, yet its start may have forked before the first one was written.
    for uid, intent in m.store.meta_with_prefix("intent:").items():
        data = saved.get(uid, {})
        if not intent or intent.get("what") != "start" or intent.get("invocation") == data.get("invocation_id"):
            continue
        try:
            u = m.load_unit(uid)
        except errors.ManagerError:  # not a valid unit name any more: nothing to adopt into
            continue
        patched = u.impl.adopt_interrupted_start(data, intent["invocation"]) if u.impl is not None else None
        if patched is not None:
            saved[uid] = patched
            adopted += 1
    return adopted


def stored_main_pid(m: Manager, u: Unit) -> tuple[int, int | None]:
    """The main PID written down when it was forked, if it is still that process."""
    stored = (m.store.get_meta(f"mainpid:{u.id}") if m.store is not None else None) or {}
    pid = int(stored.get("pid") or 0)
    if pid and process_alive(pid) and process_start_time(pid) == stored.get("start"):
        return pid, stored.get("start")
    return 0, None


def pid_from_file(m: Manager, u: Unit, path: str | None) -> tuple[int, int | None]:
    """The live PID a PID file names, if it belongs to the unit."""
    if not path:
        return 0, None
    try:
        with open(path) as f:
            pid = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 0, None
    in_unit = m.cgroups is None or not m.cgroups.enabled or pid in m.cgroups.pids(u.id)
    return (pid, process_start_time(pid)) if pid > 1 and in_unit and process_alive(pid) else (0, None)


def oldest_in_cgroup(m: Manager, u: Unit) -> tuple[int, int | None]:
    """Cgroup membership tells which processes are the unit's; the oldest is the one forked first."""
    if m.cgroups is None or not m.cgroups.enabled:
        return 0, None
    live = [(process_start_time(p) or 0, p) for p in m.cgroups.pids(u.id) if process_alive(p)]
    if not live:
        return 0, None
    start, pid = min(live)
    return pid, start


def reconcile(m: Manager, saved: Mapping[str, dict[str, Any]], reports: Mapping[int, ChildExit]) -> RecoveryReport:
    """After deserializing and restoring jobs: apply deaths, re-arm timers."""
    report = RecoveryReport()
    deaths: list[tuple[int, int, Unit, str, int]] = []  # (time, order, unit, role, pid)
    for uid, data in saved.items():
        u = m.units.get(uid)
        impl = u.impl if u is not None else None
        if u is None or impl is None:
            continue
        live = impl.pids()
        for role, pid in impl.stored_pids(data.get("impl", {})).items():
            if not pid:
                continue
            if pid == live.get(role):
                report.adopted += 1
                continue
            got = reports.get(pid)
            deaths.append((got.time_usec if got is not None else 1 << 62, len(deaths), u, role, pid))
    # Deaths first, in the order they happened, so each unit's state machine sees them as it would
    # have; then the timers of whatever state each unit is in now. Every dead PID is given back
    # before any is fed: the unit knew them all, and a transition caused by one exit may make
    # another irrelevant (the unit then ignores it, as it would have).
    deaths.sort(key=lambda d: (d[0], d[1]))
    for _t, _i, u, role, pid in deaths:
        assert u.impl is not None
        u.impl.give_back_pid(role, pid)
        m.runtime.watched[pid] = u
    for _t, _i, u, _attr, pid in deaths:
        got = reports.get(pid)
        if got is None and m.runtime.defer_foreign_exit is not None and m.runtime.defer_foreign_exit(pid):
            report.exits_awaited += 1  # died after init's hello: its report is on the way
            continue
        report.exits += 1
        if got is None:
            report.exits_unknown += 1
            m.log.warning("%s: PID %d ended while no core ran; its exit status is lost.", u.id, pid)
        m.runtime.report_exit(pid, wait_status(got) if got is not None else 0)
    for u in list(m.units_by_id().values()):
        try:
            if u.impl is not None and u.impl.resume():
                report.timers += 1
        except Exception:  # one unit's bug must not cost the others their recovery
            m.log.exception("%s: resuming after restore failed", u.id)
    return report


def exits_by_pid(events: list[ChildExit]) -> dict[int, ChildExit]:
    """The latest report per PID (an older one is of a process that reused nothing we knew)."""
    out: dict[int, ChildExit] = {}
    for e in sorted(events, key=lambda e: e.seq):
        out[e.pid] = e
    return out


__all__ = ["RecoveryReport", "adopt_interrupted_starts", "exits_by_pid", "reconcile", "wait_status"]
