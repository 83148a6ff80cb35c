#!/usr/bin/env python3
"""devmaster vs Debian's systemd-udevd 252, same machine, same run, each in a private namespace.

  coldplug: `udevadm trigger --action=add` of every device, until /run/udev/queue is gone
  storm:    N `change` events written to /sys/class/net/lo/uevent, until settled;
            events/s and the peak RSS of the daemon's whole process tree
  --compare-all: `devctl test` (in-process) vs `udevadm test` on every device here

Usage: bench/bench_devmaster.py [--runs 5] [--storm 20000] [--compare-all]
"""

import argparse
import importlib
import json
import statistics
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import psutil

# the namespace sandbox of the tests: tmpfs /run, a copy of /dev, fresh sysfs, own network namespace
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "devmaster"))
_dm_sandbox = importlib.import_module("dm_sandbox")
Sandbox: Any = _dm_sandbox.Sandbox
PYTHON: str = _dm_sandbox.PYTHON

DAEMONS = {
    "devmaster": [PYTHON, "-m", "sysmasterd.devmaster.main"],
    "systemd-udevd": ["/lib/systemd/systemd-udevd"],
}
COLDPLUG = textwrap.dedent("""
    import os, subprocess, time
    t0 = time.monotonic()
    # not checked: a device that vanishes meanwhile (other jobs on the machine) makes trigger exit 1
    subprocess.run(["udevadm", "trigger", "--action=add"])
    while os.path.exists("/run/udev/queue"):
        time.sleep(0.001)
    print(time.monotonic() - t0, len(os.listdir("/run/udev/data")))
""")
STORM = textwrap.dedent("""
    import os, subprocess, sys, time
    n = int(sys.argv[1])
    t0 = time.monotonic()
    fd = open("/sys/class/net/lo/uevent", "w", buffering=1)
    for _ in range(n):
        fd.write("change\\n"); fd.flush()
    subprocess.run(["udevadm", "settle", "-t", "600"], check=True)
    print(time.monotonic() - t0)
""")


class Daemon:
    def __init__(self, box: Any, name: str) -> None:
        self.box = box
        self.proc = box.popen(["sh", "-c", "exec " + " ".join(DAEMONS[name]) + " 2>/dev/null"])
        deadline = time.monotonic() + 20
        while box.run(["udevadm", "control", "--ping", "-t", "1"]).returncode != 0:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start")
            time.sleep(0.1)
        self.peak = 0
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    def _sample(self) -> None:
        try:
            root = psutil.Process(self.proc.pid)
        except psutil.NoSuchProcess:
            return
        while not self._stop.is_set():
            try:
                procs = [root, *root.children(recursive=True)]
                self.peak = max(self.peak, sum(p.memory_info().rss for p in procs))
            except psutil.NoSuchProcess:
                pass
            time.sleep(0.05)

    def stop(self) -> None:
        self._stop.set()
        self.box.run(["udevadm", "control", "--exit"])
        try:
            self.proc.wait(10)
        except Exception:
            self.proc.kill()
            self.proc.wait()


def coldplug_once(name: str) -> tuple[float, int]:
    box = Sandbox()
    try:
        d = Daemon(box, name)
        r = box.python(COLDPLUG, timeout=300)
        d.stop()
        if len(r.stdout.split()) != 2:
            raise RuntimeError(f"{name}: coldplug failed: {r.stderr.strip()[-2000:]}")
        out = r.stdout.split()
        return float(out[0]), int(out[1])
    finally:
        box.close()


def storm(name: str, events: int) -> tuple[float, int]:
    box = Sandbox()
    try:
        d = Daemon(box, name)
        r = box.run([PYTHON, "-c", STORM, str(events)], timeout=900)
        elapsed = float(r.stdout.split()[0])
        d.stop()
        return elapsed, d.peak
    finally:
        box.close()


COMPARE = textwrap.dedent("""
    import json, os, subprocess, sys
    from sysmasterd.cli.devctl_test import simulate, render_result
    from sysmasterd.devmaster.device import Device
    from sysmasterd.devmaster.rules.loader import load_rules
    rules = load_rules(None)
    rules.prepare()

    def parse(text):
        props = {}
        for line in text.splitlines():
            k, sep, v = line.partition("=")
            if not sep or " " in k or k == "USEC_INITIALIZED":
                continue
            multi = k.endswith(("TAGS", "DEVLINKS"))
            props[k] = sorted(v.strip(":").split(":" if "TAGS" in k else " ")) if multi else v
        return props

    same, differ = 0, []
    paths = sorted(r for r, _, f in os.walk("/sys/devices") if "uevent" in f)
    for path in paths:
        real = subprocess.run(["udevadm", "test", path], capture_output=True, text=True).stdout
        ours = render_result(simulate(Device.from_syspath(path), "add", rules))
        a, b = parse(real), parse(ours)
        if a == b:
            same += 1
        else:
            keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
            differ.append((path, {k: (a.get(k), b.get(k)) for k in keys}))
    print(json.dumps({"same": same, "differ": differ}))
""")


def compare_all() -> None:
    box = Sandbox()
    try:
        r = box.python(COMPARE, timeout=1800)
        result = json.loads(r.stdout)
    finally:
        box.close()
    total = result["same"] + len(result["differ"])
    print(f"\ndevctl test vs udevadm test: {result['same']}/{total} devices identical")
    for path, diff in result["differ"]:
        print(f"  {path}")
        for key, (real, ours) in diff.items():
            print(f"      {key}: udevadm={real!r} devctl={ours!r}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--storm", type=int, default=20000)
    p.add_argument("--compare-all", action="store_true")
    args = p.parse_args()
    # runs alternate between the daemons so that load from elsewhere hits both alike
    cold: dict[str, list[float]] = {name: [] for name in DAEMONS}
    records: dict[str, int] = {}
    for _ in range(args.runs):
        for name in DAEMONS:
            elapsed, records[name] = coldplug_once(name)
            cold[name].append(elapsed)
    rows = []
    for name in DAEMONS:
        elapsed, peak = storm(name, args.storm)
        rows.append((name, statistics.median(cold[name]), min(cold[name]), records[name],
                     args.storm / elapsed, peak))
    print(f"\n{'daemon':<15} {'coldplug median':>16} {'best':>8} {'db records':>11} {'storm events/s':>15} "
          f"{'storm peak RSS':>15}")
    for name, median, best, count, rate, peak in rows:
        print(f"{name:<15} {median * 1000:>13.0f} ms {best * 1000:>5.0f} ms {count:>11} {rate:>15.0f} "
              f"{peak / 2**20:>12.1f} MiB")
    print(f"\ncoldplug devmaster/udevd: {rows[0][1] / rows[1][1]:.1f}x (best runs {rows[0][2] / rows[1][2]:.1f}x); "
          f"storm throughput devmaster/udevd: {rows[0][4] / rows[1][4]:.2f}")
    if args.compare_all:
        compare_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
