#!/usr/bin/env python3
"""Benchmark: load N generated unit files (with dependencies) through compat, beside systemd.

Usage: python bench/bench_compat_load.py [N]   (default 1000)
Each run is a fresh process: compat's UnitLoader loading every unit, and Debian's
`SYSTEMD_UNIT_PATH=DIR: systemd-analyze verify DIR/default.target` on the same files.
Prints median/min wall time and peak RSS. This is the parsing share of `sysmasterd --test`.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNS = 5

LOAD_ALL = """
import resource, sys, time
t = time.perf_counter()
from compat.loader import UnitLoader
from compat.model import Scope
loader = UnitLoader(Scope.SYSTEM, unit_path=[sys.argv[1]])
units = [loader.load(n) for n in loader.all_names()]
assert all(u.load_state == "loaded" for u in units), {u.load_state for u in units}
print((time.perf_counter() - t) * 1000, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def generate(directory: str, n: int) -> None:
    for i in range(n):
        deps = " ".join(f"u{j}.service" for j in range(max(0, i - 3), i))
        with open(os.path.join(directory, f"u{i}.service"), "w") as f:
            f.write(
                f"[Unit]\nDescription=Unit {i} on %H\nAfter={deps}\nWants={deps}\n"
                "[Service]\nType=simple\nExecStart=/bin/sleep infinity\nRestart=on-failure\n"
                "Environment=A=1 \"B=two words\"\nLimitNOFILE=4096\nTimeoutStopSec=5s\n"
                "[Install]\nWantedBy=multi-user.target\n"
            )
    wants = " ".join(f"u{i}.service" for i in range(n))
    with open(os.path.join(directory, "default.target"), "w") as f:
        f.write(f"[Unit]\nDescription=default\nWants={wants}\n")


def ours(directory: str) -> tuple[float, int]:
    env = dict(os.environ, PYTHONPATH=ROOT)
    out = subprocess.run(
        [sys.executable, "-c", LOAD_ALL, directory], capture_output=True, text=True, env=env, check=True
    ).stdout.split()
    return float(out[0]), int(out[1])


def systemd(directory: str) -> tuple[float, int]:
    env = dict(os.environ, SYSTEMD_UNIT_PATH=f"{directory}:", SYSTEMD_LOG_LEVEL="err")
    start = time.perf_counter()
    proc = subprocess.run(
        ["/usr/bin/time", "-f", "%M", "systemd-analyze", "verify", "--man=no", f"{directory}/default.target"],
        capture_output=True, text=True, env=env,
    )
    elapsed = (time.perf_counter() - start) * 1000
    rss = int(proc.stderr.strip().splitlines()[-1]) if proc.stderr.strip() else 0
    return elapsed, rss


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    directory = tempfile.mkdtemp(prefix="bench-compat-")
    try:
        generate(directory, n)
        rows = [("compat UnitLoader (python)", ours)]
        if shutil.which("systemd-analyze") and os.path.exists("/usr/bin/time"):
            rows.append(("systemd-analyze verify (C)", systemd))
        print(f"Loading {n} units + default.target, {RUNS} fresh processes each")
        print(f"{'loader':<28} {'median ms':>10} {'min ms':>8} {'peak RSS kB':>12} {'kB/unit':>8}")
        for label, fn in rows:
            samples = [fn(directory) for _ in range(RUNS)]
            times = [s[0] for s in samples]
            rss = max(s[1] for s in samples)
            print(f"{label:<28} {statistics.median(times):>10.1f} {min(times):>8.1f} {rss:>12} {rss / n:>8.1f}")
    finally:
        shutil.rmtree(directory)


if __name__ == "__main__":
    main()
