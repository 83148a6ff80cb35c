"""Benchmark: a well-behaved client's latency and the manager's peak RSS while it is abused,
sysmasterd side by side with Debian's `systemd --user` (252).

Abuses (tests/abuse/peers.py, each for a bounded time): ListUnitsByNames with 16k names (twice
at once, 50 rounds each), a LoadUnit flood (64 calls in flight), and subscribers that never read
while a LoadUnit flood changes units. The well-behaved client is root's GetUnit over the private
socket, every 10 ms for PROBE_SEC.

sysmasterd runs as in tests/abuse (system scope in a PID + mount namespace, a private system bus
with Debian's policy, abusers as uid 65534). systemd --user runs as in tests/oracle (mount
namespace, its own cgroup, private session bus): a session bus admits only its own uid, so there
the abusers run as root; both managers see only the bench's own units.

Run as root: .venv/bin/python bench/bench_abuse.py
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests" / d) for d in ("abuse", "oracle", "support")]

from abuse_harness import PEERS, SERVICE, abuse_namespace, p50, p99, stop_peers  # noqa: E402
from bus_harness import BASE_UNITS  # noqa: E402
from oracle_runner import SYSTEMD, UNIFIED, cleanup_cgroup  # noqa: E402

PROBE_SEC = 5.0
WARMUP_SEC = 1.0
# default.target pulls basic.target in, so the probe's GetUnit finds it loaded in both managers
UNITS = {**BASE_UNITS, "other.service": SERVICE.format(name="other")}
# (name, [peers.py arguments with {bus} for the manager's bus address])
ABUSES: list[tuple[str, list[list[str]]]] = [
    ("idle", []),
    ("ListUnitsByNames 16k x2", [["names", "{bus}", "16000", "50"]] * 2),
    ("LoadUnit flood", [["loadflood", "{bus}", "12"]]),
    ("non-reading subscribers", [["noread", "{bus}", "15"]] * 3 + [["loadflood", "{bus}", "12"]]),
]

SYSTEMD_RUNNER = """\
mount -t cgroup2 none /sys/fs/cgroup || exit 90
mkdir -p /sys/fs/cgroup/$CG && echo $$ > /sys/fs/cgroup/$CG/cgroup.procs || exit 91
mount -t tmpfs none /run/systemd && mkdir /run/systemd/system || exit 92
dbus-daemon --session --fork --print-address=3 3>"$W/address" || exit 93
export DBUS_SESSION_BUS_ADDRESS=$(cat "$W/address") XDG_RUNTIME_DIR="$W/xdg" HOME="$W/home"
export SYSTEMD_UNIT_PATH="$W/units"
"$SYSTEMD" --user > "$W/daemon.log" 2>&1 &
echo $! > "$W/pid"
exec sleep 600
"""


class PeakRss:
    """Samples a process's RSS every 20 ms in a thread; ``peak`` in MiB."""

    def __init__(self, pid: int) -> None:
        self._proc = psutil.Process(pid)
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            with contextlib.suppress(psutil.Error):
                self.peak = max(self.peak, self._proc.memory_info().rss / (1 << 20))

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak


Row = tuple[str, float, float, float, int]  # abuse, p50 ms, p99 ms, peak RSS MiB, probe calls


def measure(name: str, pid: int, start_peers: Callable[[], list[subprocess.Popen[bytes]]],
            probe: Callable[[float], list[float]]) -> Row:
    rss = PeakRss(pid)
    peers = start_peers()
    try:
        time.sleep(WARMUP_SEC)
        latencies = probe(PROBE_SEC)
    finally:
        stop_peers(peers)
        peak = rss.stop()
    return name, p50(latencies) * 1000, p99(latencies) * 1000, peak, len(latencies)


def bench_sysmasterd(tmp: Path) -> list[Row]:
    rows = []
    with abuse_namespace(tmp, UNITS) as m:
        pid = m.core_pid()
        for name, peers in ABUSES:
            def start(peers: list[list[str]] = peers) -> list[subprocess.Popen[bytes]]:
                return [m.peer(*(a.format(bus=m.bus_address) for a in args)) for args in peers]

            rows.append(measure(name, pid, start, m.probe))
    return rows


@contextlib.contextmanager
def systemd_user(w: Path) -> Iterator[tuple[int, str, str]]:
    """(manager pid, session bus address, private socket address) of a running systemd --user."""
    for d in ("units", "xdg", "home"):
        (w / d).mkdir(mode=0o700)
    for unit, text in UNITS.items():
        (w / "units" / unit).write_text(text)
    cg = f"sysmaster-bench-abuse-{os.getpid()}"
    env = dict(os.environ, W=str(w), CG=cg, SYSTEMD=SYSTEMD)
    holder = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", "-c", SYSTEMD_RUNNER],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        private = w / "xdg" / "systemd" / "private"
        deadline = time.monotonic() + 20
        while not (private.exists() and (w / "pid").exists() and _read(w / "address").startswith("unix:")):
            if time.monotonic() > deadline or holder.poll() is not None:
                raise RuntimeError("systemd --user did not start: " + _read(w / "daemon.log"))
            time.sleep(0.05)
        yield int((w / "pid").read_text()), (w / "address").read_text().strip(), f"unix:path={private}"
    finally:
        cleanup_cgroup(os.path.join(UNIFIED, cg))
        holder.kill()
        holder.wait()


def _read(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else "(none)"


def bench_systemd(tmp: Path) -> list[Row]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    rows = []
    with systemd_user(tmp) as (pid, bus, private):
        def probe(seconds: float) -> list[float]:
            r = subprocess.run([sys.executable, PEERS, "probe", private, str(seconds)], env=env,
                               capture_output=True, text=True, timeout=seconds + 60)
            if r.returncode != 0 and "Connection timed out" in r.stderr:
                return [float("inf")]  # a call the manager did not answer within the client's 60 s
            if r.returncode != 0:
                raise RuntimeError(f"probe failed: {r.stderr}\n{_read(tmp / 'daemon.log')}")
            return list(json.loads(r.stdout))

        for name, peers in ABUSES:
            def start(peers: list[list[str]] = peers) -> list[subprocess.Popen[bytes]]:
                return [subprocess.Popen([sys.executable, PEERS, *(a.format(bus=bus) for a in args)], env=env,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for args in peers]

            rows.append(measure(name, pid, start, probe))
    return rows


def main() -> int:
    if os.geteuid() != 0:
        print("needs root (namespaces)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="bench-abuse-") as d:
        (Path(d) / "sm").mkdir()
        (Path(d) / "sd").mkdir()
        theirs = bench_systemd(Path(d) / "sd")
        ours = bench_sysmasterd(Path(d) / "sm")
    print(f"{'abuse':<26} | {'sysmasterd p50/p99 ms':>22} {'peak MiB':>9} | {'systemd --user p50/p99 ms':>26} "
          f"{'peak MiB':>9}")
    for a, b in zip(ours, theirs, strict=True):
        print(f"{a[0]:<26} | {a[1]:>10.2f} / {a[2]:>9.2f} {a[3]:>9.1f} | {b[1]:>12.2f} / {b[2]:>11.2f} {b[3]:>9.1f}")
    print(f"(GetUnit every 10 ms for {PROBE_SEC:.0f} s after {WARMUP_SEC:.0f} s of abuse; "
          f"calls answered: {[r[4] for r in ours]} vs {[r[4] for r in theirs]}; inf: no answer in 60 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
