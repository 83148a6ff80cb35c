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
import sys
from pathlib import Path

import pytest
from oracle_runner import SYSTEMD, UNIFIED, run_script

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

def run_flavor(tmp: Path, name: str, daemon: list[str]) -> list[tuple[str, str]]:
    # UNITS and STEPS are read when called: other oracle tests swap in their own.
    return run_script(tmp, name, daemon, UNITS, STEPS, unit_path="$W/units:",
                      files={"home/.config/systemd/user.conf": USER_CONF})


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
