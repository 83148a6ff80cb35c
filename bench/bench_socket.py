#!/usr/bin/env python3
"""N socket units: time until all listen, and first-connection latency; sysmasterd vs Debian's
`systemd --user` (252) on the same unit files, side by side.

Each sNNNN.socket (ListenStream= a path, Accept=yes) is wanted by default.target; its
sNNNN@.service answers a connection with `echo` on the socket (StandardInput=socket), so a first
connection is: the manager sees it, loads the instance, forks, execs, echo replies, EOF.
- listening: from the manager's exec to the moment every socket path accepts a connection
  attempt (the last path to appear is polled for; a connect() is not made before the end).
- first connection: connect, read the reply to EOF, on M sockets in turn (each socket's first).

Each manager runs as tests/oracle/oracle_runner.py runs them: in a mount namespace with cgroup2
over /sys/fs/cgroup, a fresh cgroup (whatever is left in it is killed by PID), tmpfs on
/run/systemd, a private session bus and only the bench's unit directory in the search path.
Run (root): .venv/bin/python bench/bench_socket.py [--sockets 1000] [--connections 200]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SYSTEMD = "/lib/systemd/systemd"
UNIFIED = "/sys/fs/cgroup/unified"
RUNNER = """
mount -t cgroup2 none /sys/fs/cgroup || exit 90
mkdir -p /sys/fs/cgroup/$CG && echo $$ > /sys/fs/cgroup/$CG/cgroup.procs || exit 91
mount -t tmpfs none /run/systemd && mkdir /run/systemd/system || exit 92
dbus-daemon --session --fork --print-address=3 3>"$W/address" || exit 93
export DBUS_SESSION_BUS_ADDRESS=$(cat "$W/address") XDG_RUNTIME_DIR="$W/xdg" HOME="$W/home"
export SYSTEMD_UNIT_PATH="$W/units"
exec "$PY" "$BENCH" --inside "$@"
"""


def write_units(w: Path, n: int) -> list[Path]:
    units = w / "units"
    units.mkdir(parents=True)
    paths = [w / "sock" / f"s{i:04d}.sock" for i in range(n)]
    names = [f"s{i:04d}.socket" for i in range(n)]
    (units / "default.target").write_text("[Unit]\nWants=" + " ".join(names) + "\n")
    (units / "basic.target").write_text("[Unit]\n")
    for i, (name, path) in enumerate(zip(names, paths, strict=True)):
        (units / name).write_text(f"[Socket]\nListenStream={path}\nAccept=yes\n")
        (units / f"s{i:04d}@.service").write_text(
            "[Service]\nExecStart=/bin/echo hello\nStandardInput=socket\nStandardError=null\n")
    return paths


def inside(args: argparse.Namespace, daemon: list[str]) -> None:
    """In the namespace: start the manager, measure, stop it; print the figures as JSON."""
    w = Path(os.environ["W"])
    paths = [w / "sock" / f"s{i:04d}.sock" for i in range(args.sockets)]
    t0 = time.perf_counter()
    with open(w / "daemon.log", "wb") as log:
        proc = subprocess.Popen(daemon, stdout=log, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONPATH": str(REPO)})
    result: dict[str, object] = {}
    try:
        pending = list(reversed(paths))
        deadline = time.monotonic() + 600
        while pending:
            if not _listening(pending[-1]):
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"not all sockets listen ({len(pending)} left)")
                time.sleep(0.005)
                continue
            pending.pop()
        result["listen_s"] = time.perf_counter() - t0
        latencies = []
        for path in paths[: args.connections]:
            t = time.perf_counter()
            with socket.socket(socket.AF_UNIX) as c:
                c.settimeout(30)
                c.connect(str(path))
                data = b""
                while chunk := c.recv(64):
                    data += chunk
            assert data == b"hello\n", data
            latencies.append(time.perf_counter() - t)
        result["first_ms"] = [x * 1000 for x in latencies]
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    print(json.dumps(result))


def _listening(path: Path) -> bool:
    """Bound and listening: a socket file that is there is enough for both managers, which bind
    and listen in one step; connecting would trigger an instance."""
    try:
        return path.is_socket()
    except OSError:
        return False


def run(name: str, daemon: list[str], args: argparse.Namespace, base: Path) -> dict[str, object]:
    w = base / name
    write_units(w, args.sockets)
    for d in ("sock", "home"):
        (w / d).mkdir()
    (w / "xdg").mkdir(mode=0o700)
    cg = f"sysmaster-bench-socket-{name}-{os.getpid()}"
    env = dict(os.environ, W=str(w), CG=cg, PY=sys.executable, BENCH=str(Path(__file__).resolve()))
    try:
        out = subprocess.run(["unshare", "-m", "--propagation", "private", "bash", "-c", RUNNER, "runner",
                              "--sockets", str(args.sockets), "--connections", str(args.connections), "--",
                              *daemon], env=env, capture_output=True, text=True, timeout=900)
    finally:
        _kill_cgroup(os.path.join(UNIFIED, cg))
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if not lines:
        log = (w / "daemon.log").read_text(errors="replace")[-3000:] if (w / "daemon.log").exists() else ""
        raise RuntimeError(f"{name}: no result\n{out.stderr[-3000:]}\n{log}")
    result: dict[str, object] = json.loads(lines[-1])
    return result


def _kill_cgroup(path: str) -> None:
    for _ in range(50):
        pids = []
        for dirpath, _d, _f in os.walk(path):
            try:
                with open(os.path.join(dirpath, "cgroup.procs")) as f:
                    pids += [int(x) for x in f.read().split()]
            except OSError:
                pass
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.1)
    for dirpath, _d, _f in sorted(os.walk(path), key=lambda t: -t[0].count("/")):
        try:
            os.rmdir(dirpath)
        except OSError:
            pass


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sockets", type=int, default=1000)
    p.add_argument("--connections", type=int, default=200)
    p.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("daemon", nargs="*", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.inside:
        inside(args, args.daemon)
        return
    if os.geteuid() != 0 or not os.path.isdir(UNIFIED) or not shutil.which("dbus-daemon"):
        sys.exit("needs root, a cgroup2 mount at /sys/fs/cgroup/unified and dbus-daemon")
    base = Path(tempfile.mkdtemp(prefix="bench-socket-", dir="/tmp"))
    try:
        managers = {"sysmasterd": [sys.executable, "-m", "sysmasterd.core.main", "--user", "--log-level", "notice",
                                   "--runtime-dir", str(base / "sysmasterd" / "run"),
                                   "--unit-path", str(base / "sysmasterd" / "units")]}
        if os.path.exists(SYSTEMD):
            managers["systemd 252"] = [SYSTEMD, "--user"]
        rows = {name: run(name.split()[0], argv, args, base) for name, argv in managers.items()}
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print(f"{args.sockets} socket units (Accept=yes, echo on the connection), first connection on "
          f"{args.connections} of them")
    print(f"{'manager':<14}{'all listening (s)':>19}{'first conn p50 (ms)':>21}{'p95 (ms)':>10}{'max (ms)':>10}")
    for name, r in rows.items():
        lat = sorted(r["first_ms"])  # type: ignore[call-overload]
        p95 = lat[min(len(lat) - 1, int(len(lat) * 0.95))]
        print(f"{name:<14}{r['listen_s']:>19.2f}{statistics.median(lat):>21.1f}{p95:>10.1f}{lat[-1]:>10.1f}")


if __name__ == "__main__":
    main()
