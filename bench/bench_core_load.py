#!/usr/bin/env python3
"""Load 1000 generated unit files with dependencies: `sysmasterd --test` vs `systemd-analyze verify`.

Prints a table: wall time of each (median of N runs) and sysmasterd's RSS per loaded unit.
Run: .venv/bin/python bench/bench_core_load.py [--units 1000] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def generate(d: str, n: int) -> None:
    names = [f"svc{i:04d}.service" for i in range(n)]
    with open(os.path.join(d, "default.target"), "w") as f:
        f.write("[Unit]\nDescription=Bench default\nWants=" + " ".join(names) + "\n")
    for i, name in enumerate(names):
        deps = [names[j] for j in (i - 1, i - 7, i - 31) if j >= 0]
        with open(os.path.join(d, name), "w") as f:
            f.write(f"[Unit]\nDescription=Bench service {i}\n")
            if deps:
                f.write(f"After={' '.join(deps)}\nWants={deps[0]}\n")
            f.write("[Service]\nType=simple\nExecStart=/bin/sleep infinity\nRestart=on-failure\n"
                    "Environment=A=1 B=2\nTimeoutStopSec=5\n[Install]\nWantedBy=default.target\n")


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, int]:
    t0 = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    took = time.perf_counter() - t0
    if proc.returncode not in (0, 1):
        sys.exit(f"{cmd[0]} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return took, max(rss, before)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--units", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    d = tempfile.mkdtemp(prefix="sysmaster-bench-load-")
    try:
        generate(d, args.units)
        # Both load default.target's closure from DIR first, then the default search path (trailing ':').
        env = dict(os.environ, SYSTEMD_UNIT_PATH=d + ":")
        ours = [sys.executable, "-m", "sysmasterd.core.main", "--system", "--test"]
        # Baseline RSS of the interpreter with our modules imported but nothing loaded.
        empty = tempfile.mkdtemp(prefix="sysmaster-bench-empty-")
        base_cmd = [sys.executable, "-m", "sysmasterd.core.main", "--system", "--test", "--unit-path", empty]
        _t, base_rss = timed(base_cmd, env)
        shutil.rmtree(empty)
        sm_times = []
        sm_rss = 0
        for _ in range(args.runs):
            t, rss = timed(ours, env)
            sm_times.append(t)
            sm_rss = rss
        sd = shutil.which("systemd-analyze")
        sd_times = []
        if sd:
            for _ in range(args.runs):
                t, _rss = timed([sd, "verify", os.path.join(d, "default.target")], env)
                sd_times.append(t)
        sm = statistics.median(sm_times)
        per_unit_kb = max(sm_rss - base_rss, 0) / (args.units + 1)
        print(f"{'what':44} {'time (s)':>10} {'ratio':>7}")
        print(f"{'sysmasterd --test (' + str(args.units) + ' units)':44} {sm:10.3f} {'':>7}")
        if sd_times:
            s = statistics.median(sd_times)
            print(f"{'systemd-analyze verify (same files)':44} {s:10.3f} {sm / s:6.1f}x")
        print(f"{'sysmasterd RSS per loaded unit (kB)':44} {per_unit_kb:10.1f}")
        print(f"{'sysmasterd peak RSS / empty RSS (MB)':44} {sm_rss / 1024:10.1f} / {base_rss / 1024:.1f}")
    finally:
        shutil.rmtree(d)


if __name__ == "__main__":
    main()
