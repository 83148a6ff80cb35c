"""Ask systemd itself: the same units and the same systemctl script against Debian's systemd 252
(`systemd --user`) and against sysmasterd, and the answers must match.

Each daemon runs in its own mount namespace (DESIGN.md §5): cgroup2 mounted over /sys/fs/cgroup,
the runner moved into a fresh cgroup, tmpfs on /run/systemd, a private session bus. Afterwards
everything in that cgroup (which holds only what the test started) is killed and the cgroup
removed.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

SYSTEMD = "/lib/systemd/systemd"
UNIFIED = "/sys/fs/cgroup/unified"

pytestmark = pytest.mark.skipif(
    not (os.path.exists(SYSTEMD) and shutil.which("systemctl") and shutil.which("dbus-daemon")
         and os.geteuid() == 0 and os.path.isdir(UNIFIED)),
    reason="needs root, Debian's systemd, systemctl, dbus-daemon and a cgroup2 mount")

UNITS = {
    "ok.service": "[Service]\nExecStart=/bin/sleep 1000\n",
    "fail.service": "[Service]\nType=oneshot\nExecStart=/bin/sh -c 'exit 3'\n",
    "cond.service": "[Unit]\nConditionPathExists=/nonexistent/x\n[Service]\nExecStart=/bin/sleep 1000\n",
    "needs.service": "[Unit]\nRequires=fail.service\nAfter=fail.service\n[Service]\nType=oneshot\n"
                     "ExecStart=/bin/true\n",
    "missing.service": "[Service]\nType=exec\nExecStart=/nonexistent/bin\n",
    "baduser.service": "[Service]\nType=oneshot\nUser=no-such-user-zz\nExecStart=/bin/true\n",
    "remain.service": "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\n",
    "notify.service": "[Service]\nType=notify\nNotifyAccess=all\n"
                      "ExecStart=/bin/sh -c 'systemd-notify --ready --status=up; exec sleep 1000'\n",
    "badsetting.service": "[Service]\nExecStart=foo/bar\n",
    "limit.service": "[Unit]\nStartLimitIntervalSec=30\nStartLimitBurst=3\n[Service]\nRestart=always\n"
                     "RestartSec=100ms\nExecStart=/bin/false\n",
    "pre.service": "[Service]\nExecStartPre=/bin/false\nExecStart=/bin/sleep 1000\n",
    "dashpre.service": "[Service]\nExecStartPre=-/bin/false\nExecStart=/bin/sleep 1000\n",
    "stopper.service": "[Service]\nExecStart=/bin/sleep 1000\nExecStop=/bin/kill -TERM $MAINPID\n",
    "db.service": "[Service]\nExecStart=/bin/sleep 1000\n",
    "app.service": "[Unit]\nRequires=db.service\nAfter=db.service\n[Service]\nExecStart=/bin/sleep 1000\n",
    "reload.service": "[Service]\nExecStart=/bin/sleep 1000\nExecReload=/bin/true\n",
    "refuse.service": "[Unit]\nRefuseManualStart=yes\n[Service]\nExecStart=/bin/sleep 1000\n",
    "iso.target": "[Unit]\nDescription=Not isolatable\n",
    # Type=dbus whose name never appears: a start timeout. (That a taken name makes it ready is
    # tested in tests/bus: systemd --user only watches bus names once it runs dbus itself.)
    "nameless.service": "[Service]\nType=dbus\nBusName=org.example.Never\nTimeoutStartSec=1\n"
                        "ExecStart=/bin/sleep 1000\n",
    "idle.service": "[Service]\nType=idle\nExecStart=/bin/sleep 1000\n",
}

PROPS = "-p LoadState -p ActiveState -p SubState -p Result -p ExecMainCode -p ExecMainStatus -p ConditionResult"

# The admin's tuning in ~/.config/systemd/user.conf, which both managers read.
USER_CONF = ("[Manager]\nDefaultTimeoutStopSec=42s\nDefaultStartLimitBurst=7\nDefaultLimitNOFILE=2000:3000\n"
             "DefaultTimeoutStartSec=not-a-time\nDefaultRestartSec=3s\nDefaultTimeoutAbortSec=13s\n")

STEPS = [
    "show -p DefaultTimeoutStopUSec -p DefaultTimeoutStartUSec -p DefaultTimeoutAbortUSec -p DefaultStartLimitBurst "
    "-p DefaultRestartUSec",
    "show -p LimitNOFILE -p LimitNOFILESoft -p TimeoutStartUSec -p TimeoutStopUSec -p RestartUSec ok.service",
    "show -p TimeoutStartUSec -p TimeoutStopUSec -p TimeoutAbortUSec fail.service",
    "start ok.service", f"show {PROPS} ok.service",
    "start fail.service", f"show {PROPS} fail.service", "is-failed fail.service",
    "start cond.service", f"show {PROPS} cond.service",
    "start needs.service", f"show {PROPS} needs.service",
    "start missing.service", f"show {PROPS} missing.service",
    "start baduser.service", f"show {PROPS} baduser.service",
    "start remain.service", f"show {PROPS} remain.service", "is-active remain.service",
    "start notify.service", f"show {PROPS} -p StatusText notify.service",
    "start badsetting.service", "show -p LoadState badsetting.service",
    "start nonexistent.service", f"show {PROPS} nonexistent.service", "is-active nonexistent.service",
    "start pre.service", f"show {PROPS} pre.service",
    "start dashpre.service", f"show {PROPS} dashpre.service",
    "start stopper.service", "stop stopper.service", f"show {PROPS} stopper.service",
    "stop ok.service", f"show {PROPS} ok.service", "is-active ok.service",
    "reset-failed fail.service", f"show {PROPS} fail.service",
    "start limit.service", "SLEEP 3", f"show {PROPS} limit.service",
    "start app.service", "is-active db.service", "stop db.service", "is-active app.service",
    "start reload.service", "reload reload.service", "try-restart reload.service", "is-active reload.service",
    "reload ok.service", "try-restart remain.service", "reload-or-restart ok.service", "is-active ok.service",
    "start refuse.service", "isolate iso.target", "status nonexistent.service",
    "start nameless.service", f"show {PROPS} nameless.service",
    "start idle.service", f"show {PROPS} idle.service",
]

RUNNER = textwrap.dedent("""\
    mount -t cgroup2 none /sys/fs/cgroup || exit 90
    mkdir -p /sys/fs/cgroup/$CG && echo $$ > /sys/fs/cgroup/$CG/cgroup.procs || exit 91
    mount -t tmpfs none /run/systemd && mkdir /run/systemd/system || exit 92
    dbus-daemon --session --fork --print-address=3 3>"$W/address" || exit 93
    export DBUS_SESSION_BUS_ADDRESS=$(cat "$W/address") XDG_RUNTIME_DIR="$W/xdg" HOME="$W/home"
    export SYSTEMD_UNIT_PATH="$W/units:"
    "$@" > "$W/daemon.log" 2>&1 &
    for i in $(seq 200); do systemctl --user show -p Version >/dev/null 2>&1 && break; sleep 0.05; done
    while read -r step; do
        case "$step" in
            SLEEP*) sleep ${step#SLEEP }; continue;;
        esac
        echo "### $step"
        systemctl --user --no-pager $step 2>&1
        echo "### rc=$?"
    done < "$W/steps"
""")


def _cleanup_cgroup(path: str) -> None:
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


def run_flavor(tmp: Path, name: str, daemon: list[str]) -> list[tuple[str, str]]:
    w = tmp / name
    (w / "units").mkdir(parents=True)
    (w / "xdg").mkdir(mode=0o700)
    (w / "home" / ".config" / "systemd").mkdir(parents=True)
    (w / "home" / ".config" / "systemd" / "user.conf").write_text(USER_CONF)
    for unit, text in UNITS.items():
        (w / "units" / unit).write_text(text)
    (w / "steps").write_text("\n".join(STEPS) + "\n")
    cg = f"sysmaster-oracle-{name}-{os.getpid()}"
    env = dict(os.environ, W=str(w), CG=cg)
    try:
        out = subprocess.run(["unshare", "-m", "--propagation", "private", "bash", "-c", RUNNER, "runner",
                              *daemon], env=env, capture_output=True, text=True, timeout=120)
    finally:
        _cleanup_cgroup(os.path.join(UNIFIED, cg))
    assert out.returncode == 0 or "### " in out.stdout, out.stderr + (w / "daemon.log").read_text()
    results: list[tuple[str, str]] = []
    step, lines = "", []
    for line in out.stdout.splitlines():
        if line.startswith("### rc="):
            results.append((step, "\n".join(lines) + f"\n(rc={line[7:]})"))
        elif line.startswith("### "):
            step, lines = line[4:], []
        else:
            lines.append(line)
    return results


def normalize(text: str) -> str:
    # Neither PIDs nor timestamps can match between two runs.
    return "\n".join(line for line in text.splitlines() if not line.startswith(("MainPID=",)))


def test_systemctl_answers_like_systemd(tmp_path: Path) -> None:
    ours = run_flavor(tmp_path, "sysmasterd",
                      [sys.executable, "-m", "sysmasterd.core.main", "--user", "--runtime-dir",
                       str(tmp_path / "sysmasterd" / "run")])
    theirs = run_flavor(tmp_path, "systemd", [SYSTEMD, "--user"])
    assert [s for s, _ in ours] == [s for s, _ in theirs] == STEPS_RUN
    diffs = [f"$ systemctl --user {step}\n--- systemd:\n{b}\n--- sysmasterd:\n{a}"
             for (step, a), (_s, b) in zip(ours, theirs, strict=True) if normalize(a) != normalize(b)]
    assert not diffs, "\n\n".join(diffs)


STEPS_RUN = [s for s in STEPS if not s.startswith("SLEEP")]
