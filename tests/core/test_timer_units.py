"""Timer units in an in-process manager: timers observed firing over short spans (OnActiveSec=,
OnUnitActiveSec=, OnCalendar=), RemainAfterElapse=, states and results as systemd's timer.c,
Persistent= catch-up from the stamp file, and the schedule kept across a restore."""

from __future__ import annotations

import itertools
import os
import time
from pathlib import Path

from core_harness import Harness

from sysmasterd.core.dependency import Dep
from sysmasterd.core.timerfd import perturbation, sleep_between
from sysmasterd.units.timer import Timer, release, stamp_dir

# A oneshot that appends a line per run: the runs are what a user sees of a timer.
SERVICE = """\
[Unit]
DefaultDependencies=no
[Service]
Type=oneshot
ExecStart=/bin/sh -c 'date +%%s.%%N >> {log}'
"""


def runs(h: Harness) -> list[float]:
    log = h.tmp / "runs.log"
    return [float(x) for x in log.read_text().split()] if log.exists() else []


def setup(h: Harness, timer: str, name: str = "tick") -> None:
    h.write(f"{name}.service", SERVICE.format(log=h.tmp / "runs.log"))
    h.write(f"{name}.timer", "[Unit]\nDefaultDependencies=no\n[Timer]\nAccuracySec=1us\n" + timer)


def impl(h: Harness, name: str = "tick.timer") -> Timer:
    t = h.unit(name).impl
    assert isinstance(t, Timer)
    return t


def test_on_active_sec_fires_once_and_elapses(h: Harness) -> None:
    setup(h, "OnActiveSec=1\n")
    started = time.time()
    assert h.start("tick.timer").value == "done"
    assert h.state("tick.timer") == ("active", "waiting")
    u = h.unit("tick.timer")
    assert u.deps[Dep.TRIGGERS] == {"tick.service"} and "tick.service" in u.deps[Dep.BEFORE]
    h.wait(lambda: len(runs(h)) == 1, 5, "the first run")
    assert 0.9 <= runs(h)[0] - started < 2.5
    h.wait(lambda: h.state("tick.timer") == ("active", "elapsed"), 5, "elapsed")
    t = impl(h)
    assert t.last_trigger.realtime and t.result() == "success"
    h.sleep(1.5)
    assert len(runs(h)) == 1  # OnActiveSec= is one-time
    assert h.stop("tick.timer").value == "done"
    assert h.state("tick.timer") == ("inactive", "dead")


def test_remain_after_elapse_no_goes_dead(h: Harness) -> None:
    setup(h, "OnActiveSec=0.3\nRemainAfterElapse=no\n")
    h.start("tick.timer")
    h.wait(lambda: len(runs(h)) == 1, 5, "the run")
    h.wait(lambda: h.state("tick.timer") == ("inactive", "dead"), 5, "dead after elapsing")


def test_on_unit_active_sec_repeats(h: Harness) -> None:
    setup(h, "OnActiveSec=0.2\nOnUnitActiveSec=1\n")
    h.start("tick.timer")
    h.wait(lambda: len(runs(h)) >= 3, 8, "three runs")
    r = runs(h)
    gaps = [b - a for a, b in itertools.pairwise(r)]
    assert all(0.9 <= g < 1.6 for g in gaps), gaps
    t = impl(h)
    assert h.state("tick.timer")[1] in ("waiting", "running")
    assert t.next_elapse_monotonic > t.last_trigger.monotonic or t.state.value == "running"


def test_on_calendar_every_two_seconds(h: Harness) -> None:
    setup(h, "OnCalendar=*:*:0/2\n")
    h.start("tick.timer")
    t = impl(h)
    nxt = t.next_elapse_realtime / 1e6
    assert int(nxt) % 2 == 0 and 0 < nxt - time.time() <= 2.01
    h.wait(lambda: len(runs(h)) >= 2, 7, "two runs")
    r = runs(h)
    # Each run starts right after an even second (the oneshot itself takes a few ms).
    assert all(int(x) % 2 == 0 and x - int(x) < 0.5 for x in r), r
    assert round(r[1] - r[0]) == 2


def test_persistent_catch_up(h: Harness) -> None:
    setup(h, "OnCalendar=*:*:0/30\nPersistent=yes\n")
    stamp = Path(stamp_dir(h.manager)) / "stamp-tick.timer"
    assert str(stamp).startswith(str(h.tmp))  # the harness's HOME, never the host's
    stamp.parent.mkdir(parents=True)
    stamp.touch()
    old = time.time() - 3600  # the last run was an hour ago: every 30 s event since was missed
    os.utime(stamp, (old, old))
    h.start("tick.timer")
    h.wait(lambda: len(runs(h)) == 1, 5, "the catch-up run")
    assert abs(stamp.stat().st_mtime - time.time()) < 5  # the run is the new last trigger


def test_persistent_first_start_creates_stamp(h: Harness) -> None:
    setup(h, "OnCalendar=*:*:0/30\nPersistent=yes\n")
    h.start("tick.timer")
    stamp = Path(stamp_dir(h.manager)) / "stamp-tick.timer"
    assert stamp.exists()
    h.sleep(0.3)
    assert runs(h) == [] or time.time() % 30 < 1  # nothing to catch up


def test_no_timers_refused_and_missing_unit(h: Harness) -> None:
    h.write("empty.timer", "[Timer]\nAccuracySec=1s\n")
    assert h.unit("empty.timer").load_state.value == "bad-setting"
    h.write("orphan.timer", "[Unit]\nDefaultDependencies=no\n[Timer]\nOnActiveSec=1\n")
    assert h.start("orphan.timer").value == "failed"


def test_default_dependencies_user_scope(h: Harness) -> None:
    h.write("tick.service", SERVICE.format(log=h.tmp / "runs.log"))
    h.write("cal.timer", "[Timer]\nOnCalendar=daily\nUnit=tick.service\n")
    u = h.unit("cal.timer")
    assert {"timers.target", "shutdown.target", "tick.service"} <= u.deps[Dep.BEFORE]
    assert u.deps[Dep.CONFLICTS] == {"shutdown.target"}
    assert "sysinit.target" not in u.deps[Dep.REQUIRES]  # only a system manager's timers
    assert "time-sync.target" not in u.deps[Dep.AFTER]


def test_restore_keeps_schedule_without_double_fire(h: Harness) -> None:
    setup(h, "OnActiveSec=0.5\nOnUnitActiveSec=1.5\n")
    h.start("tick.timer")
    h.wait(lambda: len(runs(h)) == 1, 5, "the first run")
    h.wait(lambda: h.state("tick.timer") == ("active", "waiting"), 5, "waiting again")
    before = impl(h).next_elapse_monotonic
    h.manager.flush_store()
    # A new manager on the same store, as after a core crash: same schedule, no extra run.
    old = h.m
    assert old is not None
    old.detach_runtime()
    release(old)  # the old core is dead: its timers must not fire any more
    h.boot()
    h.manager.load_all(["tick.timer"])
    h.manager.restore()
    assert h.state("tick.timer") == ("active", "waiting")
    assert impl(h).next_elapse_monotonic == before
    h.wait(lambda: len(runs(h)) == 2, 5, "the second run")
    assert 1.4 <= runs(h)[1] - runs(h)[0] < 2.3
    h.sleep(0.5)
    assert len(runs(h)) == 2


def test_sleep_between_matches_sd_event() -> None:
    p = perturbation()
    assert 0 <= p < 60_000_000
    # A minute-wide window lands on the boot's offset within the minute.
    a = 1_000_000_000_000
    assert sleep_between(a, a + 60_000_000, p) % 60_000_000 == p % 60_000_000 or \
        sleep_between(a, a + 60_000_000, p) == a + 60_000_000
    assert sleep_between(a, a + 1, p) == a
