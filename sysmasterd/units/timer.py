"""Timer units: the state machine of systemd's timer.c.

A timer waits (monotonic spans counted from its activation, the boot, the manager's start, or
the triggered unit's last activation/deactivation; calendar events on the wall clock), then
queues a start job for its unit (Unit=, else the service of the same name) and runs until that
unit is inactive again, when it computes the next elapse. Wake-ups go through
core/timerfd.py, coalesced within AccuracySec= as sd-event does.

Persistent=yes keeps the last trigger time as the mtime of a stamp file, so that a calendar
event missed while the timer was stopped (or the machine off) elapses at the next start.
Across a core restart or daemon-reexec the computed elapses and the last trigger are restored
from the state store and re-armed as they were: a restored elapse in the past fires once, at
once; a fired one is not fired again because the last trigger and the RUNNING state are
stored before the start job runs.
"""

from __future__ import annotations

import enum
import os
import weakref
from typing import TYPE_CHECKING, Any

from compat.config_timer import TimerBase, TimerSection, TimerValue, trigger_unit
from compat.model import USEC_INFINITY, UnitKind
from sysmasterd.core.clock import DualTimestamp, now_monotonic_usec, now_realtime_usec
from sysmasterd.core.conditions import detect_virtualization
from sysmasterd.core.dependency import Dep
from sysmasterd.core.siphash import siphash24
from sysmasterd.core.states import ActiveState
from sysmasterd.core.timerfd import CLOCK_MONOTONIC, CLOCK_REALTIME, ClockSetWatch, EventClock, Source
from sysmasterd.core.unittype import OpResult, TypeDescriptor
from sysmasterd.units.triggering import TriggeringType, stop_pending

if TYPE_CHECKING:
    import asyncio

    from sysmasterd.core.manager import Manager
    from sysmasterd.core.unit import Unit


class TimerState(enum.Enum):
    DEAD = "dead"
    WAITING = "waiting"
    RUNNING = "running"
    ELAPSED = "elapsed"
    FAILED = "failed"


class TimerResult(enum.Enum):
    SUCCESS = "success"
    RESOURCES = "resources"
    START_LIMIT_HIT = "start-limit-hit"


_ACTIVE_STATE = {TimerState.DEAD: ActiveState.INACTIVE, TimerState.WAITING: ActiveState.ACTIVE,
                 TimerState.RUNNING: ActiveState.ACTIVE, TimerState.ELAPSED: ActiveState.ACTIVE,
                 TimerState.FAILED: ActiveState.FAILED}
_ONE_SHOT_BASES = (TimerBase.ACTIVE, TimerBase.BOOT, TimerBase.STARTUP)
_UNIT_BASES = (TimerBase.UNIT_ACTIVE, TimerBase.UNIT_INACTIVE)
# systemd's key for the FixedRandomDelay= hash (timer_get_fixed_delay_hash).
_FIXED_DELAY_KEY = bytes.fromhex("510adb76295142c28035eae68e3a37bd")
_USERSPACE_META = "timer:userspace-monotonic"


class Timer(TriggeringType[TimerState, TimerResult]):
    ACTIVE_STATE = _ACTIVE_STATE

    def __init__(self, unit: Unit) -> None:
        super().__init__(unit, TimerState, TimerResult)
        self.last_trigger = DualTimestamp()
        self.next_elapse_monotonic = USEC_INFINITY
        self.next_elapse_realtime = USEC_INFINITY
        # Per config value (same order as TimerSection.values): its next elapse, and whether a
        # one-time value has elapsed for good.
        self.value_next: list[int] = []
        self.disabled: list[bool] = []
        self._mono: Source | None = None
        self._real: Source | None = None
        self._restored: dict[str, Any] = {}  # what deserialize() read, for resume()
        self._reload_handle: asyncio.Handle | None = None

    # -- configuration ------------------------------------------------------------------------

    @property
    def cfg(self) -> TimerSection:
        c = self.unit.config
        return c.timer if c is not None and c.timer is not None else TimerSection()

    def trigger_name(self) -> str | None:
        """The unit this timer triggers, as its Triggers= dependency names it."""
        names = sorted(self.unit.deps.get(Dep.TRIGGERS, ()))
        return names[0] if names else None

    def trigger(self) -> Unit | None:
        name = self.trigger_name()
        return self.unit.manager.get_unit(name) if name else None

    def stamp_path(self) -> str | None:
        if not self.cfg.persistent:
            return None
        return os.path.join(stamp_dir(self.unit.manager), "stamp-" + self.unit.id)

    def _values(self) -> list[TimerValue]:
        values = self.cfg.values
        if len(self.value_next) != len(values):
            self.value_next = [0] * len(values)
            self.disabled = [False] * len(values)
        return values

    def values_key(self) -> str:
        """What identifies the configured values: a stored schedule is reused only for the same."""
        return repr([(v.base.value, v.usec, v.calendar.normalized() if v.calendar else "") for v in self.cfg.values])

    # -- UnitType -----------------------------------------------------------------------------

    def add_implicit_dependencies(self) -> None:
        if self.unit.config is None:
            return
        m, u = self.unit.manager, self.unit
        name = trigger_unit(self.unit.config)
        m.add_dependency(u, Dep.BEFORE, name)
        m.add_dependency(u, Dep.TRIGGERS, name)
        if self.state is TimerState.WAITING and self._reload_handle is None:
            # daemon-reload while waiting: as systemd's coldplug after a reload, compute the
            # elapses anew from the (maybe changed) settings, once all units are loaded again.
            self._reload_handle = m.loop.call_soon(self._recompute)

    def add_default_dependencies(self) -> None:
        m, u = self.unit.manager, self.unit
        m.add_dependency(u, Dep.BEFORE, "timers.target")
        if m.is_system:
            m.add_dependency(u, Dep.AFTER, "sysinit.target")
            m.add_dependency(u, Dep.REQUIRES, "sysinit.target")
            if any(v.base is TimerBase.CALENDAR for v in self.cfg.values):
                m.add_dependency(u, Dep.AFTER, "time-sync.target")
                m.add_dependency(u, Dep.AFTER, "time-set.target")
        m.add_dependency(u, Dep.BEFORE, "shutdown.target")
        m.add_dependency(u, Dep.CONFLICTS, "shutdown.target")

    def start(self) -> OpResult:
        u = self.unit
        if not self._trigger_loaded(self.trigger()):
            return OpResult.FAILED
        if self._refuse_start_limit():
            return OpResult.FAILED
        u.new_invocation()
        self.last_trigger = DualTimestamp()
        values = self._values()
        for i, v in enumerate(values):
            if v.base is TimerBase.ACTIVE:
                self.disabled[i] = False
        self._load_stamp()
        self._result = TimerResult.SUCCESS
        self._enter_waiting(time_change=False)
        return OpResult.STARTED

    def trigger_notify(self, triggered: Unit) -> None:
        values = self._values()
        for i, v in enumerate(values):
            if v.base in _UNIT_BASES:
                self.disabled[i] = False
        if self.state in (TimerState.WAITING, TimerState.ELAPSED):
            self._enter_waiting(time_change=False)
        elif self.state is TimerState.RUNNING and triggered.active_state.is_inactive_or_failed():
            self.unit.manager.log.debug("%s: Got notified about unit deactivation.", self.unit.id)
            self._enter_waiting(time_change=False)

    # -- state machine ------------------------------------------------------------------------

    def _set_state(self, state: TimerState) -> None:
        self.state = state
        if state is not TimerState.WAITING:
            self._disarm()
            self.next_elapse_monotonic = self.next_elapse_realtime = USEC_INFINITY
        _watchers(self.unit.manager).update(self)
        self.unit.notify()

    def _enter_elapsed(self, leave_around: bool) -> None:
        # RemainAfterElapse=yes (and timers that the unit's own activity re-arms) stay active,
        # so that starting the timer again does not fire it again at once.
        if self.cfg.remain_after_elapse or leave_around:
            self._set_state(TimerState.ELAPSED)
        else:
            self._enter_dead(TimerResult.SUCCESS)

    def _enter_waiting(self, time_change: bool) -> None:
        m, u = self.unit.manager, self.unit
        trigger = self.trigger()
        if trigger is None:
            self._trigger_vanished()
            return
        now_rt, now_mono = now_realtime_usec(), now_monotonic_usec()
        found_mono = found_real = leave_around = False
        self.next_elapse_monotonic = self.next_elapse_realtime = 0
        for i, v in enumerate(self._values()):
            if self.disabled[i]:
                continue
            if v.base is TimerBase.CALENDAR:
                nxt = self._calendar_elapse(v, now_rt, now_mono)
                if nxt is None:
                    continue
                self.value_next[i] = nxt
                self.next_elapse_realtime = min(self.next_elapse_realtime, nxt) if found_real else nxt
                found_real = True
                continue
            if v.base in _UNIT_BASES:
                leave_around = True
            base = self._monotonic_base(v.base, trigger, now_mono)
            if base is None:
                continue
            nxt = min(base + v.usec, USEC_INFINITY)
            self.value_next[i] = nxt
            if self.last_trigger and not time_change and nxt < now_mono and v.base in _ONE_SHOT_BASES:
                self.disabled[i] = True  # a one-time value that has had its turn
                continue
            self.next_elapse_monotonic = min(self.next_elapse_monotonic, nxt) if found_mono else nxt
            found_mono = True
        if not found_mono and not found_real and not self.cfg.on_clock_change and not self.cfg.on_timezone_change:
            m.log.debug("%s: Timer is elapsed.", u.id)
            self._enter_elapsed(leave_around)
            return
        self._disarm()
        if found_mono:
            self.next_elapse_monotonic = self._add_random(self.next_elapse_monotonic)
            self._arm(CLOCK_MONOTONIC, self.next_elapse_monotonic)
        if found_real:
            self.next_elapse_realtime = self._add_random(self.next_elapse_realtime)
            self._arm(CLOCK_REALTIME, self.next_elapse_realtime)
        self._set_state(TimerState.WAITING)

    def _calendar_elapse(self, v: TimerValue, now_rt: int, now_mono: int) -> int | None:
        assert v.calendar is not None
        # From the last trigger if known, else from the timer's activation.
        if self.last_trigger:
            base = self.last_trigger.realtime
        elif self.unit.ts["inactive_exit"]:
            base = self.unit.ts["inactive_exit"].realtime
        else:
            base = now_rt
        try:
            nxt = v.calendar.next_elapse(base)
        except ValueError:
            return None
        if nxt is None:
            return None
        # An elapse already missed is due at the manager's start, not earlier: that keeps
        # RandomizedDelaySec= spreading the catch-up of missed events after boot.
        rebased = now_rt - (now_mono - userspace_monotonic(self.unit.manager))
        return max(nxt, rebased)

    def _monotonic_base(self, base: TimerBase, trigger: Unit, now_mono: int) -> int | None:
        if base is TimerBase.ACTIVE:
            if _ACTIVE_STATE[self.state] is ActiveState.ACTIVE:
                return self.unit.ts["inactive_exit"].monotonic
            return now_mono
        if base is TimerBase.BOOT and detect_virtualization()[0] != "container":
            return 0  # CLOCK_MONOTONIC counts from boot
        if base in (TimerBase.BOOT, TimerBase.STARTUP):
            # In a container the boot is the container's: its manager's start.
            return userspace_monotonic(self.unit.manager)
        stamp = trigger.ts["inactive_exit" if base is TimerBase.UNIT_ACTIVE else "inactive_enter"]
        b = max(stamp.monotonic, self.last_trigger.monotonic)
        return b if b > 0 else None

    def _add_random(self, usec: int) -> int:
        span = self.cfg.randomized_delay_usec
        if span == 0 or usec == USEC_INFINITY:
            return usec
        add = (self._fixed_delay_hash() if self.cfg.fixed_random_delay else int.from_bytes(os.urandom(8))) % span
        return min(usec + add, USEC_INFINITY - 1)

    def _fixed_delay_hash(self) -> int:
        """A delay stable for this machine, manager scope, user and timer (systemd's hash of
        the same, so both pick the same delay)."""
        try:
            with open("/etc/machine-id") as f:
                machine = bytes.fromhex(f.read().strip())
        except (OSError, ValueError):
            machine = bytes(16)
        data = (machine + bytes([self.unit.manager.is_system]) + os.getuid().to_bytes(4, "little")
                + self.unit.id.encode())
        return siphash24(_FIXED_DELAY_KEY, data)

    def _arm(self, clock: int, usec: int) -> None:
        source = Source(usec, self.cfg.accuracy_usec, self._elapsed)
        _clock(self.unit.manager, clock).add(source)
        if clock == CLOCK_MONOTONIC:
            self._mono = source
        else:
            self._real = source

    def _disarm(self) -> None:
        for clock, source in ((CLOCK_MONOTONIC, self._mono), (CLOCK_REALTIME, self._real)):
            if source is not None:
                _clock(self.unit.manager, clock).remove(source)
        self._mono = self._real = None

    def _elapsed(self) -> None:
        if self.state is not TimerState.WAITING:
            return
        self.unit.manager.log.debug("%s: Timer elapsed.", self.unit.id)
        self._enter_running()

    def _enter_running(self) -> None:
        m, u = self.unit.manager, self.unit
        if stop_pending(u):
            return  # going down anyway
        if not self._start_triggered(self.trigger()):
            return
        self.last_trigger = DualTimestamp.now()
        self._touch_stamp(self.last_trigger.realtime)
        self._set_state(TimerState.RUNNING)
        # Stored before the start job can run: a core that dies now must not fire it again.
        m.flush_store()

    def time_change(self) -> None:
        """The wall clock was set."""
        if self.state is not TimerState.WAITING:
            return
        # Triggered "in the future": the clock went back; let those elapses come again.
        now_rt = now_realtime_usec()
        if self.last_trigger.realtime > now_rt:
            self.last_trigger = DualTimestamp(now_rt, self.last_trigger.monotonic)
        if self.cfg.on_clock_change:
            self._enter_running()
        else:
            self._enter_waiting(time_change=True)

    def timezone_change(self) -> None:
        if self.state is not TimerState.WAITING:
            return
        if self.cfg.on_timezone_change:
            self._enter_running()
        else:
            self._enter_waiting(time_change=False)

    # -- Persistent= --------------------------------------------------------------------------

    def _load_stamp(self) -> None:
        path = self.stamp_path()
        if path is None:
            return
        try:
            mtime = os.stat(path).st_mtime_ns // 1000
        except FileNotFoundError:
            self._touch_stamp(None)  # never ran: from now on, a missed event is noticed
            return
        except OSError:
            return
        if mtime < now_realtime_usec():
            self.last_trigger = DualTimestamp(mtime, 0)
        else:
            self.unit.manager.log.warning("%s: Not using persistent file timestamp as it is in the future.",
                                          self.unit.id)

    def _touch_stamp(self, realtime: int | None) -> None:
        path = self.stamp_path()
        if path is None:
            return
        try:
            os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
            with open(path, "a"):
                pass
            if realtime is not None:
                os.utime(path, ns=(realtime * 1000, realtime * 1000))
        except OSError as e:
            self.unit.manager.log.warning("%s: Failed to update stamp file %s: %s", self.unit.id, path, e)

    # -- persistence ----------------------------------------------------------------------------

    def serialize(self) -> dict[str, Any]:
        return {**self._serialize_state(),
                "last_trigger": self.last_trigger.to_list(),
                "next_monotonic": self.next_elapse_monotonic, "next_realtime": self.next_elapse_realtime,
                "armed": [bool(self._mono), bool(self._real)],
                "value_next": list(self.value_next), "disabled": list(self.disabled), "values": self.values_key()}

    def deserialize(self, data: dict[str, Any]) -> None:
        if not self._deserialize_state(data):
            return
        self.last_trigger = DualTimestamp.from_list(data.get("last_trigger"))
        self._restored = data

    def resume(self) -> bool:
        """Re-arm a waiting timer at the elapses the previous core computed (an elapse that
        passed meanwhile fires now); without them, or for changed settings, compute anew."""
        data, self._restored = self._restored, {}
        _watchers(self.unit.manager).update(self)
        if self.state is not TimerState.WAITING or self._mono is not None or self._real is not None:
            return False
        values = self._values()
        if data.get("values") != self.values_key() or len(data.get("value_next", [])) != len(values):
            self._enter_waiting(time_change=False)
            return True
        self.value_next = [int(x) for x in data["value_next"]]
        self.disabled = [bool(x) for x in data["disabled"]]
        self.next_elapse_monotonic = int(data.get("next_monotonic", USEC_INFINITY))
        self.next_elapse_realtime = int(data.get("next_realtime", USEC_INFINITY))
        armed_mono, armed_real = data.get("armed", [True, True])
        if armed_mono:
            self._arm(CLOCK_MONOTONIC, self.next_elapse_monotonic)
        if armed_real:
            self._arm(CLOCK_REALTIME, self.next_elapse_realtime)
        return bool(armed_mono or armed_real)

    def _recompute(self) -> None:
        self._reload_handle = None
        if self.state is TimerState.WAITING:
            self._enter_waiting(time_change=False)


def stamp_dir(m: Manager) -> str:
    """Where Persistent= stamps live, as systemd keeps them: under the system's state directory,
    or $XDG_DATA_HOME (~/.local/share) of the manager's user."""
    if m.is_system:
        return os.path.join(m.runtime.directory_bases()["state"], "systemd", "timers")
    env = m.settings.environ
    data = env.get("XDG_DATA_HOME") or os.path.join(env.get("HOME") or os.path.expanduser("~"), ".local", "share")
    return os.path.join(data, "systemd", "timers")


def userspace_monotonic(m: Manager) -> int:
    """When this manager started (systemd's userspace timestamp), kept in the state store so that
    a later core after a crash or daemon-reexec counts OnStartupSec= from the same instant."""
    store = m.store
    if store is None or m.settings.test_mode:
        return m.ts["startup"].monotonic
    stored = store.get_meta(_USERSPACE_META)
    if stored is None:
        stored = m.ts["startup"].monotonic
        store.set_meta(_USERSPACE_META, stored)
    return int(stored)


_CLOCKS: weakref.WeakKeyDictionary[Manager, dict[int, EventClock]] = weakref.WeakKeyDictionary()


def _clock(m: Manager, clock: int) -> EventClock:
    clocks = _CLOCKS.setdefault(m, {})
    if clock not in clocks:
        clocks[clock] = EventClock(m.loop, clock)
    return clocks[clock]


class _Watchers:
    """The waiting timers of one manager, told when the wall clock is set; the watch runs only
    while there are any."""

    def __init__(self, m: Manager) -> None:
        self.m = m
        self.timers: weakref.WeakSet[Timer] = weakref.WeakSet()
        self.watch: ClockSetWatch | None = None

    def update(self, t: Timer) -> None:
        if t.state is TimerState.WAITING:
            self.timers.add(t)
        else:
            self.timers.discard(t)
        if self.timers and self.watch is None:
            self.watch = ClockSetWatch(self.m.loop, self._clock_set)
        elif not self.timers and self.watch is not None:
            self.watch.close()
            self.watch = None

    def _clock_set(self) -> None:
        self.m.log.debug("Time has been changed")
        for t in list(self.timers):
            t.time_change()


_WATCHERS: weakref.WeakKeyDictionary[Manager, _Watchers] = weakref.WeakKeyDictionary()


def _watchers(m: Manager) -> _Watchers:
    w = _WATCHERS.get(m)
    if w is None:
        w = _WATCHERS[m] = _Watchers(m)
    return w


def release(m: Manager) -> None:
    """Close the timerfds of a manager that is gone while its loop runs on (a test's previous
    core), so that its timers cannot fire into the loop."""
    for clock in _CLOCKS.pop(m, {}).values():
        clock.close()
    w = _WATCHERS.pop(m, None)
    if w is not None and w.watch is not None:
        w.watch.close()


TYPE = TypeDescriptor(UnitKind.TIMER, Timer, "org.freedesktop.systemd1.Timer")
