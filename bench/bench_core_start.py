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


def wait_for(pred, timeout: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise TimeoutError
        time.sleep(0.02)


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
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "sysmasterd.core.main", "--user", "--no-bus", "--unit-path",
                             units, "--runtime-dir", os.path.join(d, "run"), "--log-target", f"file:{log}",
                             "--log-level", "notice"])
    try:
        def done() -> bool:
            try:
                with open(log) as f:
                    return "Startup finished" in f.read()
            except FileNotFoundError:
                return False
        wait_for(done, 300)
        took = time.perf_counter() - t0
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return took


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
    t0 = time.perf_counter()
    proc = subprocess.Popen([sup, "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def done() -> bool:
            try:
                with open(log) as f:
                    return f.read().count("entered RUNNING state") >= n
            except FileNotFoundError:
                return False
        wait_for(done, 600)
        took = time.perf_counter() - t0
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(300)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return took


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--services", type=int, default=1000)
    args = ap.parse_args()
    d = tempfile.mkdtemp(prefix="sysmaster-bench-start-")
    try:
        ours = bench_sysmasterd(args.services, os.path.join(d, "a") if os.makedirs(os.path.join(d, "a")) is None
                                else d)
        theirs = bench_supervisord(args.services, d)
        print(f"{'what':40} {'time (s)':>10} {'speed-up':>9}")
        print(f"{'sysmasterd: ' + str(args.services) + ' services active':40} {ours:10.2f}")
        if theirs is not None:
            print(f"{'supervisord 4.2: same programs RUNNING':40} {theirs:10.2f} {theirs / ours:8.1f}x")
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
