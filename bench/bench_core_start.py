#!/usr/bin/env python3
"""Start N trivial services (`sleep infinity`) until all are running: sysmasterd vs supervisord.

Both run in the same invocation on the same N programs. sysmasterd: from exec to its
"Startup finished" (default.target wants all N). supervisord (startsecs=0): from exec to the N-th
"entered RUNNING state" line in its log. Everything started is stopped again by PID.
Run: .venv/bin/python bench/bench_core_start.py [--services 1000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable


def time_until_logged(cmd: list[str], log: str, logged: Callable[[str], bool], timeout: float) -> float:
    """Start cmd, return the seconds until its log file satisfies `logged`, then stop it by PID."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with open(log) as f:
                    if logged(f.read()):
                        return time.perf_counter() - t0
            except FileNotFoundError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{cmd[0]} did not get there in {timeout} s")
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(300)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def bench_sysmasterd(n: int, d: str) -> float:
    units = os.path.join(d, "units")
    os.makedirs(units)
    names = [f"s{i:04d}.service" for i in range(n)]
    with open(os.path.join(units, "default.target"), "w") as f:
        f.write("[Unit]\nWants=" + " ".join(names) + "\n")
    with open(os.path.join(units, "basic.target"), "w") as f:
        f.write("[Unit]\n")
    for name in names:
        with open(os.path.join(units, name), "w") as f:
            f.write("[Service]\nExecStart=/bin/sleep infinity\n")
    log = os.path.join(d, "sm.log")
    cmd = [sys.executable, "-m", "sysmasterd.core.main", "--user", "--no-bus", "--unit-path", units,
           "--runtime-dir", os.path.join(d, "run"), "--log-target", f"file:{log}", "--log-level", "notice"]
    return time_until_logged(cmd, log, lambda text: "Startup finished" in text, 300)


def bench_supervisord(n: int, d: str) -> float | None:
    sup = shutil.which("supervisord")
    if sup is None:
        return None
    conf = os.path.join(d, "supervisord.conf")
    log = os.path.join(d, "sup.log")
    with open(conf, "w") as f:
        f.write(f"[supervisord]\nnodaemon=true\nlogfile={log}\npidfile={d}/sup.pid\nminfds=4096\n"
                f"childlogdir={d}\n[unix_http_server]\nfile={d}/sup.sock\n")
        for i in range(n):
            f.write(f"[program:p{i:04d}]\ncommand=/bin/sleep infinity\nstartsecs=0\nautorestart=false\n"
                    f"stdout_logfile=NONE\nstderr_logfile=NONE\n")
    return time_until_logged([sup, "-c", conf], log, lambda text: text.count("entered RUNNING state") >= n, 600)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--services", type=int, default=1000)
    args = ap.parse_args()
    d = tempfile.mkdtemp(prefix="sysmaster-bench-start-")
    try:
        ours = bench_sysmasterd(args.services, os.path.join(d, "sysmasterd"))
        os.makedirs(os.path.join(d, "supervisord"))
        theirs = bench_supervisord(args.services, os.path.join(d, "supervisord"))
        print(f"{'what':40} {'time (s)':>10} {'speed-up':>9}")
        print(f"{'sysmasterd: ' + str(args.services) + ' services active':40} {ours:10.2f}")
        if theirs is not None:
            print(f"{'supervisord 4.2: same programs RUNNING':40} {theirs:10.2f} {theirs / ours:8.1f}x")
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
