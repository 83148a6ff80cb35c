"""Run one systemctl script against a user manager (Debian's `systemd --user` or sysmasterd) in a
mount namespace of its own: cgroup2 over /sys/fs/cgroup, a fresh cgroup, tmpfs on /run/systemd, a
private session bus, only the test's unit directory in the search path. Steps are systemctl
arguments, `RUN <shell>` or `SLEEP <s>`; `$W` in units and output stands for the run's directory.
Whatever the run left in its cgroup is killed by PID afterwards.
"""

from __future__ import annotations

import os
import signal
import subprocess
import textwrap
import time
from pathlib import Path

SYSTEMD = "/lib/systemd/systemd"
UNIFIED = "/sys/fs/cgroup/unified"

RUNNER = textwrap.dedent("""\
    mount -t cgroup2 none /sys/fs/cgroup || exit 90
    mkdir -p /sys/fs/cgroup/$CG && echo $$ > /sys/fs/cgroup/$CG/cgroup.procs || exit 91
    mount -t tmpfs none /run/systemd && mkdir /run/systemd/system || exit 92
    dbus-daemon --session --fork --print-address=3 3>"$W/address" || exit 93
    export DBUS_SESSION_BUS_ADDRESS=$(cat "$W/address") XDG_RUNTIME_DIR="$W/xdg" HOME="$W/home"
    export SYSTEMD_UNIT_PATH="$UNIT_PATH"
    "$@" > "$W/daemon.log" 2>&1 &
    for i in $(seq 200); do systemctl --user show -p Version >/dev/null 2>&1 && break; sleep 0.05; done
    while read -r step; do
        case "$step" in
            SLEEP*) sleep ${step#SLEEP }; continue;;
        esac
        echo "### $step"
        case "$step" in
            RUN*) bash -c "${step#RUN }" 2>&1;;
            *) systemctl --user --no-pager $step 2>&1;;
        esac
        echo "### rc=$?"
    done < "$W/steps"
""")


def cleanup_cgroup(path: str) -> None:
    """Kill what a run left in its cgroup (by PID), then remove the cgroup."""
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
            except OSError:
                pass
        time.sleep(0.1)
    for dirpath, _d, _f in sorted(os.walk(path), key=lambda t: -len(t[0])):
        try:
            os.rmdir(dirpath)
        except OSError:
            pass


def run_script(tmp: Path, name: str, daemon: list[str], units: dict[str, str], steps: list[str],
               unit_path: str = "$W/units", files: dict[str, str] | None = None) -> list[tuple[str, str]]:
    """(step, output + rc) for every step that is not a SLEEP. unit_path: the managers' whole search
    path, without the host's directories; files: more files below the run's directory (user.conf)."""
    w = tmp / name
    (w / "units").mkdir(parents=True)
    (w / "xdg").mkdir(mode=0o700)
    (w / "home").mkdir()
    for rel, text in (files or {}).items():
        (w / rel).parent.mkdir(parents=True, exist_ok=True)
        (w / rel).write_text(text)
    for unit, text in units.items():
        (w / "units" / unit).write_text(text.replace("$W", str(w)))
    (w / "steps").write_text("\n".join(steps) + "\n")
    cg = f"sysmaster-oracle-{name}-{os.getpid()}"
    env = dict(os.environ, W=str(w), CG=cg, UNIT_PATH=unit_path.replace("$W", str(w)))
    try:
        out = subprocess.run(["unshare", "-m", "--propagation", "private", "bash", "-c", RUNNER, "runner",
                              *daemon], env=env, capture_output=True, text=True, timeout=120)
    finally:
        cleanup_cgroup(os.path.join(UNIFIED, cg))
    assert "### " in out.stdout, out.stderr + (w / "daemon.log").read_text()
    results: list[tuple[str, str]] = []
    step, lines = "", []
    for line in out.stdout.replace(str(w), "$W").splitlines():
        if line.startswith("### rc="):
            results.append((step, "\n".join(lines) + f"\n(rc={line[7:]})"))
        elif line.startswith("### "):
            step, lines = line[4:], []
        else:
            lines.append(line)
    return results
