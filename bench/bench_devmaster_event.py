#!/usr/bin/env python3
"""Per-event cost: devmaster vs Debian's systemd-udevd 252, same machine, same run, each in the
private namespace the tests use (tmpfs /run, a copy of /dev, fresh sysfs, own network namespace
with its own veth pairs, so that no uevent reaches the host's udevd).

  storm:  N `change` uevents written round-robin to the uevent files of lo and the veth
          interfaces (a storm of triggers), then `udevadm settle`. Wall time gives events/s;
          the CPU time of the daemon's whole process tree (daemon, workers, what they ran)
          over the same span gives CPU-ms per event. Workers seen, and their memory right after
          (RSS, and USS: what a worker does not share with the parent it was forked from).
  fork:   both daemons fork their workers from the daemon itself (devmaster's parent has the
          rules and builtins loaded: a worker starts warm). One `change` on lo with no worker
          alive (the first waits for a fork) against one right after (an idle worker takes it),
          from the write to the uevent file to the daemon's broadcast.

Usage: bench/bench_devmaster_event.py [--runs 3] [--events 4000] [--pairs 8] [--samples 5]
"""

import argparse
import importlib
import json
import statistics
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "devmaster"))
_dm_sandbox = importlib.import_module("dm_sandbox")
Sandbox: Any = _dm_sandbox.Sandbox
PYTHON: str = _dm_sandbox.PYTHON

DAEMONS = {
    "devmaster": [PYTHON, "-m", "sysmasterd.devmaster.main"],
    "systemd-udevd": ["/lib/systemd/systemd-udevd"],
}

# Runs inside the sandbox: argv = daemon PID, mode, mode's arguments; prints one JSON object.
PROBE = textwrap.dedent("""
    import json, os, select, subprocess, sys, threading, time
    import psutil
    from sysmasterd.devmaster.framework import netlink
    from sysmasterd.devmaster.framework.message import MessageError

    root = psutil.Process(int(sys.argv[1]))

    def tree_cpu():
        # a process's own time plus that of the children it reaped: an exiting worker's (or RUN
        # program's) time moves from the live sum to its parent's, never out of the total
        total = 0.0
        for p in [root, *root.children(recursive=True)]:
            try:
                t = p.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += t.user + t.system + t.children_user + t.children_system
        return total

    def storm(events):
        paths = sorted(f"/sys/class/net/{n}/uevent" for n in os.listdir("/sys/class/net"))
        files = [open(p, "w", buffering=1) for p in paths]
        seen, stop = set(), threading.Event()

        def watch():  # the workers: the daemon's direct children (RUN programs are theirs)
            while not stop.is_set():
                seen.update(c.pid for c in root.children())
                time.sleep(0.005)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        cpu0, t0 = tree_cpu(), time.monotonic()
        for i in range(events):
            f = files[i % len(files)]
            f.write("change\\n")
            f.flush()
        subprocess.run(["udevadm", "settle", "-t", "600"], check=True)
        wall, cpu = time.monotonic() - t0, tree_cpu() - cpu0
        stop.set()
        watcher.join()
        mem = []
        for c in root.children():
            try:
                m = c.memory_full_info()
                mem.append((m.rss, m.uss))
            except psutil.NoSuchProcess:
                pass
        return {"devices": len(paths), "wall": wall, "cpu": cpu, "workers": len(seen), "worker_mem": mem,
                "parent_rss": root.memory_info().rss}

    def one_event(sock):
        # drain what an earlier run left, then time one change on lo up to the daemon's broadcast
        while select.select([sock], [], [], 0)[0]:
            sock.recv(1 << 20)
        t0 = time.monotonic()
        with open("/sys/class/net/lo/uevent", "w") as f:
            f.write("change")
        while True:
            if not select.select([sock], [], [], 10)[0]:
                raise SystemExit("no broadcast within 10 s")
            try:
                got = netlink.receive(sock, netlink.GROUP_UDEV)
            except (MessageError, BlockingIOError):
                continue
            if got.properties.get("DEVPATH") == "/devices/virtual/net/lo":
                return time.monotonic() - t0

    def fork(samples):
        sock = netlink.open_uevent_socket(netlink.GROUP_UDEV)
        cold, warm = [], []
        for _ in range(samples):
            deadline = time.monotonic() + 20  # both daemons end workers idle for 3 s
            while root.children() and time.monotonic() < deadline:
                time.sleep(0.1)
            cold.append(one_event(sock))
            warm.append(one_event(sock))
        return {"cold": cold, "warm": warm}

    mode = sys.argv[2]
    print(json.dumps(storm(int(sys.argv[3])) if mode == "storm" else fork(int(sys.argv[3]))))
""")


def _start(box: Any, name: str) -> Any:
    proc = box.popen(["sh", "-c", "exec " + " ".join(DAEMONS[name]) + " 2>/dev/null"])
    deadline = time.monotonic() + 20
    while box.run(["udevadm", "control", "--ping", "-t", "1"]).returncode != 0:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name} did not start")
        time.sleep(0.1)
    return proc


def _stop(box: Any, proc: Any) -> None:
    box.run(["udevadm", "control", "--exit"])
    try:
        proc.wait(10)
    except Exception:
        proc.kill()
        proc.wait()


def measure(name: str, pairs: int, events: int, samples: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """One fresh sandbox and daemon: the veth pairs added (and their add events settled), the
    fork probe on the idle daemon, then the storm."""
    box = Sandbox()
    try:
        for i in range(pairs):
            box.run(["ip", "link", "add", f"bv{i}a", "type", "veth", "peer", "name", f"bv{i}b"], check=True)
        proc = _start(box, name)
        try:
            box.run(["udevadm", "settle", "-t", "60"], check=True)
            results = []
            for mode, arg in (("fork", samples), ("storm", events)):
                r = box.run([PYTHON, "-c", PROBE, str(proc.pid), mode, str(arg)], timeout=1800)
                if r.returncode != 0:
                    raise RuntimeError(f"{name} {mode}: {r.stderr.strip()[-2000:]}")
                results.append(json.loads(r.stdout))
            return results[0], results[1]
        finally:
            _stop(box, proc)
    finally:
        box.close()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--events", type=int, default=4000)
    p.add_argument("--pairs", type=int, default=8, help="veth pairs beside lo (2 devices each)")
    p.add_argument("--samples", type=int, default=5, help="cold/warm single events per run")
    args = p.parse_args()
    storms: dict[str, list[dict[str, Any]]] = {name: [] for name in DAEMONS}
    forks: dict[str, dict[str, list[float]]] = {name: {"cold": [], "warm": []} for name in DAEMONS}
    # runs alternate between the daemons so that load from elsewhere hits both alike
    for _ in range(args.runs):
        for name in DAEMONS:
            fork, storm = measure(name, args.pairs, args.events, args.samples)
            storms[name].append(storm)
            for kind in ("cold", "warm"):
                forks[name][kind] += fork[kind]
    devices = storms["devmaster"][0]["devices"]
    print(f"\n{args.events} change uevents over {devices} network devices per run, {args.runs} runs "
          f"(median; CPU = the daemon's process tree)")
    print(f"{'daemon':<14} {'events/s':>9} {'CPU-ms/event':>13} {'CPU/wall':>9} {'workers':>8} "
          f"{'worker RSS':>11} {'worker USS':>11} {'parent RSS':>11}")
    rate, cost = {}, {}
    for name, runs in storms.items():
        rate[name] = statistics.median(args.events / r["wall"] for r in runs)
        cost[name] = statistics.median(r["cpu"] * 1000 / args.events for r in runs)
        load = statistics.median(r["cpu"] / r["wall"] for r in runs)
        workers = statistics.median(r["workers"] for r in runs)
        mem = [m for r in runs for m in r["worker_mem"]]
        rss = statistics.mean(m[0] for m in mem) / 2**20 if mem else 0.0
        uss = statistics.mean(m[1] for m in mem) / 2**20 if mem else 0.0
        parent = statistics.median(r["parent_rss"] for r in runs) / 2**20
        print(f"{name:<14} {rate[name]:>9.0f} {cost[name]:>13.2f} {load:>8.0%} {workers:>8.0f} "
              f"{rss:>7.1f} MiB {uss:>7.1f} MiB {parent:>7.1f} MiB")
    print(f"\none change on lo, write to broadcast ({args.runs * args.samples} samples, median)")
    print(f"{'daemon':<14} {'no idle worker (fork)':>22} {'idle worker':>12} {'fork adds':>10}")
    for name, f in forks.items():
        cold, warm = statistics.median(f["cold"]) * 1000, statistics.median(f["warm"]) * 1000
        print(f"{name:<14} {cold:>19.2f} ms {warm:>9.2f} ms {cold - warm:>7.2f} ms")
    print(f"\ndevmaster/udevd: throughput {rate['devmaster'] / rate['systemd-udevd']:.2f}x, "
          f"CPU per event {cost['devmaster'] / cost['systemd-udevd']:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
