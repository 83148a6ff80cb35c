"""A timer keeps its schedule across core deaths and daemon-reexec under sysmaster-init: every
elapse fires exactly once (none twice, none lost: one that passed while no core ran fires when
the next core is back), and the runs stay on the calendar's even seconds otherwise."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

from recovery_harness import namespace, wait_until

UNITS = {
    "boot.target": "[Unit]\nDefaultDependencies=no\nWants=tick.timer\n",
    # No Persistent=: this system-scope core shares the host's /var/lib (no mount namespace here).
    "tick.timer": "[Unit]\nDefaultDependencies=no\n[Timer]\nOnCalendar=*:*:0/2\nAccuracySec=1us\n",
    # Every 2 s plus catch-ups would hit the default start limit (5 in 10 s), as under systemd.
    "tick.service": "[Unit]\nDefaultDependencies=no\nStartLimitIntervalSec=0\n[Service]\nType=oneshot\n"
                    "ExecStart=/bin/sh -c 'date +%%s.%%N >> @RUN@/runs'\n",
}


def _runs(run: Path) -> list[float]:
    log = run / "runs"
    return [float(x) for x in log.read_text().split()] if log.exists() else []


def test_timer_schedule_survives_core_kills_and_reexec() -> None:
    with namespace(UNITS) as ns:
        def more_runs(n: int, timeout: float = 15) -> None:
            target = len(_runs(ns.run)) + n
            wait_until(lambda: len(_runs(ns.run)) >= target, timeout, f"{target} runs")

        more_runs(2)
        # Killed right after an elapse fired (its service may not even have run yet).
        start = len(_runs(ns.run))
        wait_until(lambda: ns.prop("tick.timer", "Unit", "SubState") == "running" or len(_runs(ns.run)) > start,
                   5, "an elapse")
        ns.wait_ready(ns.kill_core())
        more_runs(2)
        # Killed while waiting, for longer than one period: the elapse missed meanwhile fires once.
        old = ns.kill_core()
        time.sleep(0.1)
        ns.wait_ready(old)
        more_runs(2)
        assert ns.call("Reexecute") is not None or True  # the reply may be lost as the core execs
        time.sleep(1)
        wait_until(lambda: ns.call("GetUnit", "s", "tick.timer", timeout=2) is not None, 20, "the re-executed core")
        more_runs(2)
        runs = _runs(ns.run)
        gaps = [b - a for a, b in itertools.pairwise(runs)]
        assert len(runs) >= 9
        assert all(g >= 0.9 for g in gaps), f"an elapse fired twice: {runs}"
        assert all(g <= 8 for g in gaps), f"an elapse got lost: {runs}"
        # Outside the catch-ups, runs start right after an even second.
        assert sum(1 for r in runs if int(r) % 2 == 0 and r - int(r) < 0.6) >= len(runs) - 2, runs
        last = ns.prop("tick.timer", "Timer", "LastTriggerUSec") / 1e6
        assert abs(last - runs[-1]) < 1.5 or ns.prop("tick.timer", "Unit", "SubState") == "running"
        assert ns.prop("tick.timer", "Timer", "Result") == "success"
