#!/usr/bin/env python3
"""Spawn cost of a fully sandboxed service next to a plain one: sysmasterd vs Debian's
`systemd --user` (252) on the same unit files, side by side.

Both units are Type=exec around /bin/sleep, so `systemctl start` returns once the child has done
all its set-up and exec'ed. Per start:
- latency: wall time of `systemctl --user start` (client start-up included; it is the same
  binary for both managers, so the "vs plain" column is the sandbox set-up's own cost);
- child CPU: what the unit's cgroup used up to the moment it was active (cpu.stat usage_usec:
  the forked child's set-up, namespace helpers, then the few instructions of sleep);
- manager CPU: the manager process's own CPU time across the start call (mean: see _cpu_ms).
Each unit is started and stopped --starts times; the first start of each is a warm-up.

Each manager runs as tests/oracle/oracle_runner.py runs it (imported, not copied): a mount
namespace with cgroup2 over /sys/fs/cgroup, a fresh cgroup (whatever is left in it is killed by
PID), tmpfs on /run/systemd, a private session bus and only the bench's units in the search path.
The timing loop is this script again (--inside), run as one step of the runner's script.
Run (root): .venv/bin/python bench/bench_spawn.py [--starts 40]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import stat
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "oracle"))
from oracle_runner import SYSTEMD, UNIFIED, run_script  # noqa: E402

PLAIN = "[Service]\nType=exec\nWorkingDirectory=/\nExecStart=/bin/sleep infinity\n"
SANDBOXED = PLAIN + """
PrivateTmp=yes
PrivateDevices=yes
PrivateNetwork=yes
PrivateIPC=yes
PrivateUsers=yes
ProtectSystem=strict
ProtectHome=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
ProtectProc=invisible
ProcSubset=pid
NoNewPrivileges=yes
CapabilityBoundingSet=
RestrictNamespaces=yes
RestrictAddressFamilies=AF_UNIX
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
SystemCallFilter=@system-service
SystemCallArchitectures=native
"""
UNITS = {"default.target": "[Unit]\n", "basic.target": "[Unit]\n",
         "plain.service": PLAIN, "sandboxed.service": SANDBOXED}


def _systemctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["systemctl", "--user", *args], capture_output=True, text=True, timeout=60)


def _manager() -> psutil.Process:
    """The runner's script started the manager in the background and this script as a later
    step (through `bash -c`, which may exec us): the manager is the runner's other child."""
    me = psutil.Process()
    chain = {me.pid, *(a.pid for a in me.parents())}
    for ancestor in me.parents():
        others = [c for c in ancestor.children() if c.pid not in chain]
        if others:
            assert len(others) == 1, others
            return others[0]
    raise RuntimeError("no manager beside this process")


def _cpu_ms(manager: psutil.Process) -> float:
    """The manager's CPU time, threads that have ended included. It is counted in clock ticks
    (10 ms), so one start's figure is coarse: the table shows the mean over all starts, in which
    the rounding evens out (per-thread schedstat would be exact, but misses short-lived threads)."""
    t = manager.cpu_times()
    return (t.user + t.system) * 1000


def _check_sandboxed(unit: str) -> None:
    """The sandboxed unit really runs in its own namespaces, with the seccomp filter: figures for
    a sandbox a manager skipped would mean nothing."""
    pid = _systemctl("show", "-P", "MainPID", unit).stdout.strip()
    with open(f"/proc/{pid}/status") as f:
        status = dict(line.split(":", 1) for line in f)
    for ns in ("mnt", "net", "user", "ipc", "uts"):
        assert os.readlink(f"/proc/{pid}/ns/{ns}") != os.readlink(f"/proc/self/ns/{ns}"), (unit, ns)
    assert status["NoNewPrivs"].strip() == "1" and status["Seccomp"].strip() == "2", (unit, status)


def _unit_usage_ms(unit: str) -> float:
    """CPU the unit's cgroup (of the cgroup2 mount the runner made) has used so far."""
    pid = _systemctl("show", "-P", "MainPID", unit).stdout.strip()
    with open(f"/proc/{pid}/cgroup") as f:
        path = next(line.split(":", 2)[2].strip() for line in f if line.startswith("0::"))
    with open(f"/sys/fs/cgroup{path}/cpu.stat") as f:
        usage = next(int(line.split()[1]) for line in f if line.startswith("usage_usec"))
    return usage / 1000


def _inaccessible_nodes() -> None:
    """/run/systemd/inaccessible/, which PID 1 makes at boot and systemd 252's InaccessiblePaths=
    (ProtectHome=, ProtectKernelTunables=, ...) bind from, in user managers too; the runner's
    tmpfs on /run/systemd hides the host's."""
    top = "/run/systemd/inaccessible"
    os.makedirs(top, exist_ok=True)
    os.mkdir(f"{top}/dir", 0)
    for name, kind in (("reg", stat.S_IFREG), ("fifo", stat.S_IFIFO), ("sock", stat.S_IFSOCK),
                       ("chr", stat.S_IFCHR), ("blk", stat.S_IFBLK)):
        os.mknod(f"{top}/{name}", kind, os.makedev(0, 0))
        os.chmod(f"{top}/{name}", 0)


def inside(starts: int) -> None:
    """In the namespace, once the manager answers: time the starts; print the figures as JSON."""
    _inaccessible_nodes()
    manager = _manager()
    result: dict[str, dict[str, list[float]]] = {}
    for unit in ("plain.service", "sandboxed.service"):
        rows: dict[str, list[float]] = {"latency_ms": [], "child_cpu_ms": [], "manager_cpu_ms": []}
        for i in range(starts + 1):
            cpu0 = _cpu_ms(manager)
            t0 = time.perf_counter()
            started = _systemctl("start", unit)
            elapsed = time.perf_counter() - t0
            cpu1 = _cpu_ms(manager)
            if started.returncode != 0:
                raise RuntimeError(f"{unit}: {started.stderr}{_systemctl('status', unit).stdout}")
            child = _unit_usage_ms(unit)
            if i == 0 and unit == "sandboxed.service":
                _check_sandboxed(unit)
            _systemctl("stop", unit)
            if i == 0:
                continue  # warm-up: unit loading, first-use caches
            rows["latency_ms"].append(elapsed * 1000)
            rows["child_cpu_ms"].append(child)
            rows["manager_cpu_ms"].append(cpu1 - cpu0)
        result[unit] = rows
    print(json.dumps(result))


def measure(name: str, daemon: list[str], starts: int, base: Path) -> dict[str, dict[str, list[float]]]:
    step = f"RUN {sys.executable} {Path(__file__).resolve()} --inside --starts {starts}"
    out = run_script(base, name, daemon, UNITS, [step])
    text = out[0][1]
    lines = [line for line in text.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"{name}: no result\n{text}\n{(base / name / 'daemon.log').read_text()[-3000:]}")
    result: dict[str, dict[str, list[float]]] = json.loads(lines[-1])
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--starts", type=int, default=40)
    p.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.inside:
        inside(args.starts)
        return
    if os.geteuid() != 0 or not os.path.isdir(UNIFIED) or not shutil.which("dbus-daemon"):
        sys.exit("needs root, a cgroup2 mount at /sys/fs/cgroup/unified and dbus-daemon")
    os.environ["PYTHONPATH"] = str(REPO)
    base = Path(tempfile.mkdtemp(prefix="bench-spawn-", dir="/tmp"))
    try:
        managers = {"sysmasterd": [sys.executable, "-m", "sysmasterd.core.main", "--user", "--log-level", "notice",
                                   "--runtime-dir", str(base / "sysmasterd" / "run")]}
        if os.path.exists(SYSTEMD):
            managers["systemd 252"] = [SYSTEMD, "--user", "--log-level=notice"]
        rows = {name: measure(name.split()[0], argv, args.starts, base) for name, argv in managers.items()}
    finally:
        shutil.rmtree(base, ignore_errors=True)
    settings = len(SANDBOXED.splitlines()) - len(PLAIN.splitlines()) - 1
    print(f"start to active (Type=exec), {args.starts} starts per unit after a warm-up; medians "
          f"(latency also p95; manager CPU: mean); sandboxed: {settings} settings")
    print(f"{'manager':<13}{'unit':<11}{'latency ms':>11}{'p95':>7}{'vs plain':>10}{'child CPU ms':>14}"
          f"{'manager CPU ms':>16}")
    for name, units in rows.items():
        plain = statistics.median(units["plain.service"]["latency_ms"])
        for unit, r in units.items():
            lat = sorted(r["latency_ms"])
            p95 = lat[min(len(lat) - 1, int(len(lat) * 0.95))]
            print(f"{name:<13}{unit.split('.')[0]:<11}{statistics.median(lat):>11.1f}{p95:>7.1f}"
                  f"{statistics.median(lat) - plain:>+10.1f}{statistics.median(r['child_cpu_ms']):>14.2f}"
                  f"{statistics.mean(r['manager_cpu_ms']):>16.2f}")


if __name__ == "__main__":
    main()
