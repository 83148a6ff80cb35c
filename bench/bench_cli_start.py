"""Start-up of sctl and devctl per verb, next to systemctl/udevadm and the interpreter's floor.

Each command runs N times (default 15); the table shows medians in ms. Commands that need a
manager are pointed at an empty runtime directory, so ours and systemctl both start, parse, try to
connect and fail: what is timed is exactly start-up up to the first system call of real work. The
floor is `python -I -c pass` with the interpreter the console scripts use (its site, .pth files
and all), timed in turns with each command; the goal is 2.5x the floor.

    .venv/bin/python bench/bench_cli_start.py [N]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

BIN = Path(sys.executable).parent
GOAL = 2.5

# (our command, the C tool's command or None)
SCTL = ["--user"]
CASES: list[tuple[list[str], list[str] | None]] = [
    (["sctl", "--version"], ["systemctl", "--version"]),
    (["sctl", "--help"], ["systemctl", "--help"]),
    (["sctl", "--bogus"], ["systemctl", "--bogus"]),
    (["sctl", *SCTL, "is-active", "x"], ["systemctl", *SCTL, "is-active", "x"]),
    (["sctl", *SCTL, "start", "x"], ["systemctl", *SCTL, "start", "x"]),
    (["sctl", *SCTL, "status", "x"], ["systemctl", *SCTL, "status", "x"]),
    (["sctl", *SCTL, "show", "x"], ["systemctl", *SCTL, "show", "x"]),
    (["sctl", *SCTL, "list-units"], ["systemctl", *SCTL, "list-units"]),
    (["sctl", *SCTL, "enable", "x"], ["systemctl", *SCTL, "enable", "x"]),
    (["sctl", *SCTL, "daemon-reload"], ["systemctl", *SCTL, "daemon-reload"]),
    (["devctl", "--version"], ["udevadm", "--version"]),
    (["devctl", "info", "/dev/loop0"], ["udevadm", "info", "/dev/loop0"]),
    (["devctl", "info", "-q", "path", "-n", "loop0"], ["udevadm", "info", "-q", "path", "-n", "loop0"]),
    (["devctl", "test-builtin", "path_id", "/sys/class/block/loop0"],
     ["udevadm", "test-builtin", "path_id", "/sys/class/block/loop0"]),
    (["devctl", "control", "--ping"], ["udevadm", "control", "--ping"]),
    (["devctl", "settle", "-t", "0"], ["udevadm", "settle", "-t", "0"]),
    (["devctl", "trigger", "--dry-run", "--subsystem-match=block"],
     ["udevadm", "trigger", "--dry-run", "--subsystem-match=block"]),
    (["devctl", "monitor", "--help"], ["udevadm", "monitor", "--help"]),
]


def _time_one(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    # a blocking wait: Popen.wait(timeout) polls in steps of up to 50 ms, which rounded every
    # figure up to the next step; a hung command is killed by the timer instead
    watchdog = threading.Timer(30, proc.kill)
    watchdog.start()
    proc.wait()
    elapsed = time.perf_counter() - start
    watchdog.cancel()
    return elapsed


def medians_ms(cmds: list[list[str]], env: dict[str, str], runs: int) -> list[float]:
    """Each command's median, the commands taking turns run by run: this VM's speed drifts by
    half from minute to minute, so a floor timed apart from a command says little about it."""
    times: list[list[float]] = [[] for _ in cmds]
    for _ in range(runs):
        for i, cmd in enumerate(cmds):
            times[i].append(_time_one(cmd, env))
    return [statistics.median(t) * 1000 for t in times]


def main() -> int:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    with tempfile.TemporaryDirectory() as runtime:
        # No manager anywhere: both tools fail at connect, after their whole start-up.
        env = {**os.environ, "XDG_RUNTIME_DIR": runtime, "DBUS_SESSION_BUS_ADDRESS": f"unix:path={runtime}/none",
               "SYSTEMD_PAGER": "", "SYSTEMD_COLORS": "0"}
        floor_cmd = [sys.executable, "-I", "-c", "pass"]
        floor, bare = medians_ms([floor_cmd, [sys.executable, "-I", "-S", "-c", "pass"]], env, runs)
        print(f"floor: {sys.executable} -I -c pass = {floor:.1f} ms (without site: {bare:.1f} ms); "
              f"median of {runs}, timed again in turns with each command for its ratio\n")
        width = max(len(" ".join(ours)) for ours, _ in CASES)
        print(f"{'command':<{width}}  {'ours':>7}  {'floor':>7}  {'x floor':>7}  {'C tool':>7}  {'x C':>6}")
        over = 0
        for ours, theirs in CASES:
            cmds = [[str(BIN / ours[0]), *ours[1:]], floor_cmd, *([theirs] if theirs else [])]
            ms, local_floor, *peer_ms = medians_ms(cmds, env, runs)
            peer = peer_ms[0] if peer_ms else 0.0
            mark = "" if ms <= GOAL * local_floor else "  over"
            over += bool(mark)
            print(f"{' '.join(ours):<{width}}  {ms:7.1f}  {local_floor:7.1f}  {ms / local_floor:7.2f}  {peer:7.1f}  "
                  f"{ms / peer if peer else 0:6.1f}{mark}")
        print(f"\n{len(CASES) - over}/{len(CASES)} commands within {GOAL}x the floor")
    return 0


if __name__ == "__main__":
    sys.exit(main())
