"""Path units side by side: the same units and systemctl script against Debian's `systemd --user`
and against `sysmasterd --user`; what systemctl prints (show, status, is-active, start errors) must
match once the run's own directory and times are blanked out.

Each manager sees only the test's unit directory (no trailing ':' in SYSTEMD_UNIT_PATH) and
watches only paths inside the test's directory; it runs in its own mount namespace with cgroup2
over /sys/fs/cgroup, a fresh cgroup, tmpfs on /run/systemd and a private session bus, as in
test_systemd_oracle.py. Whatever the run left in its cgroup is killed by PID afterwards.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from oracle_runner import SYSTEMD, run_script
from test_systemd_oracle import pytestmark  # noqa: F401

UNITS = {
    "default.target": "[Unit]\nDescription=Default\n",
    "basic.target": "[Unit]\nDescription=Basic\n",  # what services require by default
    "watch.path": "[Unit]\nDescription=Watch the flag\n[Path]\nPathExists=$W/flag\nPathChanged=$W/conf\n"
                  "PathModified=$W/data\nDirectoryNotEmpty=$W/spool\nPathExistsGlob=$W/glob/*.req\n"
                  "MakeDirectory=yes\nDirectoryMode=0700\n",
    "watch.service": "[Service]\nType=oneshot\nExecStart=/bin/sh -c 'echo run >> $W/log; rm -f $W/flag'\n",
    "other.path": "[Path]\nPathExists=$W/other\nUnit=target.service\nTriggerLimitBurst=3\n"
                  "TriggerLimitIntervalSec=1h\n",
    "target.service": "[Service]\nType=oneshot\nExecStart=/bin/true\n",
    "nopath.path": "[Path]\nMakeDirectory=yes\n",
    "orphan.path": "[Path]\nPathExists=$W/orphan\n",
    "running.path": "[Path]\nPathExists=$W/running\n",
    "running.service": "[Service]\nExecStart=/bin/sh -c 'rm -f $W/running; exec sleep 1000'\n",
}

PATH_PROPS = ("-p Unit -p Paths -p MakeDirectory -p DirectoryMode -p Result -p TriggerLimitIntervalUSec "
              "-p TriggerLimitBurst -p Triggers -p Conflicts")
STATE = "-p LoadState -p ActiveState -p SubState -p Result"

STEPS = [
    f"show {PATH_PROPS} watch.path",
    "start watch.path", f"show {STATE} watch.path", "status watch.path", "is-active watch.path",
    "RUN test -d $W/spool && stat -c %a $W/spool $W/conf $W/data",
    "RUN touch $W/flag", "SLEEP 1", f"show {STATE} watch.path", f"show {STATE} watch.service",
    "RUN cat $W/log",
    "stop watch.path", f"show {STATE} watch.path",
    "start other.path", "RUN touch $W/other", "SLEEP 2", f"show {STATE} other.path", "status other.path",
    "is-failed other.path", "reset-failed other.path", f"show {STATE} other.path",
    "start nopath.path", f"show {STATE} nopath.path",
    "start orphan.path", f"show {STATE} orphan.path",
    "start running.path", "RUN touch $W/running", "SLEEP 1", f"show {STATE} running.path",
    "status running.path", "stop running.service", "SLEEP 1", f"show {STATE} running.path",
    "start watch.path", "daemon-reload", f"show {STATE} watch.path", "RUN touch $W/flag", "SLEEP 1",
    f"show {STATE} watch.path", "RUN cat $W/log",
]

def run_flavor(tmp: Path, name: str, daemon: list[str]) -> list[tuple[str, str]]:
    return run_script(tmp, name, daemon, UNITS, [*STEPS, "stop running.service"],
                      files={"conf": "", "data": ""})[:-1]


_SINCE = re.compile(r" since .*$")


def normalize(text: str) -> str:
    # Times cannot match between two runs; dependency lists are sets.
    out = []
    for line in text.splitlines():
        line = _SINCE.sub(" since -", line)
        if line.lstrip().startswith("Duration:"):
            continue
        if line.startswith(("Triggers=", "Conflicts=")):
            key, _, value = line.partition("=")
            line = key + "=" + " ".join(sorted(value.split()))
        out.append(line)
    return "\n".join(out)


def test_path_units_answer_like_systemd(tmp_path: Path) -> None:
    ours = run_flavor(tmp_path, "sysmasterd",
                      [sys.executable, "-m", "sysmasterd.core.main", "--user", "--runtime-dir",
                       str(tmp_path / "sysmasterd" / "run")])
    theirs = run_flavor(tmp_path, "systemd", [SYSTEMD, "--user"])
    steps = [s for s in STEPS if not s.startswith("SLEEP")]
    assert [s for s, _ in ours] == [s for s, _ in theirs] == steps
    diffs = [f"$ {step}\n--- systemd:\n{b}\n--- sysmasterd:\n{a}"
             for (step, a), (_s, b) in zip(ours, theirs, strict=True) if normalize(a) != normalize(b)]
    assert not diffs, "\n\n".join(diffs)
