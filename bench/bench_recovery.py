"""Recovery time of the core: SIGKILL -> state restored and answering D-Bus calls again.

sysmaster-init as PID 1 of a PID namespace, the real sysmasterd under it on a private bus,
1000 loaded units of which 100 services run. Each round waits a random moment, SIGKILLs the core
and measures until a new core answers GetUnit on the bus (busctl, polled every few ms), and how
long the new core spent from its start to "state restored" (its own log). Prints a table.

    .venv/bin/python bench/bench_recovery.py [--kills 100] [--units 1000] [--running 100]

Needs root, unshare(1), dbus-daemon and busctl. Uses tests/recovery/recovery_harness.py.
"""

from __future__ import annotations

import argparse
import random
import re
import signal
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "recovery"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "support"))

from recovery_harness import namespace, service

STAMP = r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})"


def make_units(total: int, running: int) -> dict[str, str]:
    units: dict[str, str] = {}
    for i in range(running):
        units[f"run{i:04d}.service"] = service(f"ExecStart=/bin/sleep {30000 + i}")
    for i in range(total - running - 1):
        if i % 3 == 0:
            units[f"idle{i:04d}.target"] = "[Unit]\nDefaultDependencies=no\n"
        else:
            units[f"idle{i:04d}.service"] = service(f"ExecStart=/bin/sleep {40000 + i}\nRestart=on-failure")
    # After= loads the idle units without starting them.
    units["boot.target"] = "[Unit]\nDefaultDependencies=no\nWants=" + " ".join(
        f"run{i:04d}.service" for i in range(running)) + "\nAfter=" + " ".join(
        n for n in units if n.startswith("idle")) + "\n"
    return units


def restore_times(log: str) -> list[float]:
    """Per core start: seconds from 'sysmasterd starting' to 'Recovered runtime state'."""
    out, started = [], None
    for line in log.splitlines():
        m = re.match(STAMP, line)
        if not m:
            continue
        t = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
        if "sysmasterd starting" in line:
            started = t
        elif "Recovered runtime state" in line and started is not None:
            out.append(t - started)
            started = None
    return out


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kills", type=int, default=100)
    p.add_argument("--units", type=int, default=1000)
    p.add_argument("--running", type=int, default=100)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    rng = random.Random(args.seed)
    units = make_units(args.units, args.running)
    # Loading 1000 units happens before the first heartbeat: give init's hang clock room.
    conf = {"heartbeat_interval": 2, "heartbeat_misses": 5}
    totals: list[float] = []
    with namespace(units, init_conf=conf) as ns:
        table = ns.settle(120)
        loaded = len(table)
        up = sum(1 for n, st in table.items() if n.startswith("run") and st[0] == "active")
        assert up == args.running, f"only {up} of {args.running} services came up"
        pids = sorted(p for i in range(args.running) for p in ns.sleepers(str(30000 + i)))
        for _ in range(args.kills):
            time.sleep(rng.uniform(0.05, 0.3))
            t_kill = time.monotonic()
            old = ns.kill_core(signal.SIGKILL)
            ns.wait_ready(old, timeout=60)
            totals.append(time.monotonic() - t_kill)
        after = sorted(p for i in range(args.running) for p in ns.sleepers(str(30000 + i)))
        restores = restore_times(ns.log.read_text())[1:]
    print(f"sysmasterd recovery: {args.units} loaded units, {args.running} running services, "
          f"{args.kills} SIGKILLs ({loaded} units listed by the core)")
    print(f"services untouched across all kills: {'yes' if after == pids else 'NO'} ({len(after)} processes)")
    print()
    print(f"{'measure':<44}{'min':>8}{'median':>8}{'p90':>8}{'p99':>8}{'max':>8}")
    for name, vals in (("SIGKILL -> answering on D-Bus (s)", totals),
                       ("core start -> state restored (s, core log)", restores)):
        if vals:
            print(f"{name:<44}{min(vals):8.3f}{statistics.median(vals):8.3f}{pct(vals, 0.9):8.3f}"
                  f"{pct(vals, 0.99):8.3f}{max(vals):8.3f}")
    print()
    edges = [0.25, 0.5, 0.75, 1.0, 1.5, 2.0, float("inf")]
    print("distribution of SIGKILL -> answering:")
    lo = 0.0
    for hi in edges:
        n = sum(1 for v in totals if lo <= v < hi)
        label = f"{lo:.2f}-{hi:.2f} s" if hi != float("inf") else f">= {lo:.2f} s"
        print(f"  {label:<14}{n:5d}  {'#' * n}")
        lo = hi
    goal = statistics.median(totals) < 1.0 if totals else False
    print(f"\ngoal (median < 1 s): {'met' if goal else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
