"""Issue 13's parity defects, side by side with Debian's `systemd --user` (252): the same units and
systemctl script against both managers (oracle_runner.py), and what systemctl prints must match.

- an ExecStart= that cannot be executed ends with ExecMainStatus=203 (EXEC), also for Type=simple;
- `systemctl mask` of a loaded unit makes `systemctl start` refuse it ("Unit … is masked.");
- an ExecCondition= exiting 1..254 ends with Result=exec-condition;
- ExecSearchPath=, OOMScoreAdjust=-100 and IOSchedulingClass=none run as systemd runs them;
- set-property on an inactive, unreferenced unit shows the new value at once;
- revert removes set-property's 50-*.conf drop-ins from the control directories.
"""

from __future__ import annotations

import sys
from pathlib import Path

from oracle_runner import run_script
from test_systemd_oracle import SYSTEMD, pytestmark  # noqa: F401

UNITS = {
    # After= keeps these loaded when they end inactive: a collected unit would show fresh values.
    "default.target": "[Unit]\nDescription=Default\nAfter=cond.service condpost.service search.service "
                      "ionone.service\n",
    "basic.target": "[Unit]\nDescription=Basic\n",
    "noexec.service": "[Service]\nExecStart=/nonexistent/bin\n",
    "noperm.service": "[Service]\nType=oneshot\nExecStart=$W/units/noexec.service\n",
    "masked.service": "[Service]\nExecStart=/bin/sleep 1000\n",
    # A skipping condition ends with Result=exec-condition, unless an ExecStopPost= runs after it.
    "cond.service": "[Service]\nType=oneshot\nExecCondition=/bin/true\nExecCondition=/bin/sh -c 'exit 254'\n"
                    "ExecCondition=/bin/sh -c 'exit 255'\nExecStart=/bin/true\n",
    "condpost.service": "[Service]\nType=oneshot\nExecCondition=/bin/sh -c 'exit 254'\nExecStart=/bin/true\n"
                        "ExecStopPost=/bin/sh -c 'exit 1'\n",
    "condfail.service": "[Service]\nType=oneshot\nExecCondition=/bin/sh -c 'exit 255'\nExecStart=/bin/true\n",
    "search.service": "[Service]\nType=oneshot\nExecSearchPath=$W/bin\nExecStart=mytool arg\n",
    "oom.service": "[Service]\nType=oneshot\nOOMScoreAdjust=-100\n"
                   "ExecStart=/bin/sh -c 'a=$$(cat /proc/self/oom_score_adj); test \"$$a\" -eq -100'\n",
    "ionone.service": "[Service]\nType=oneshot\nIOSchedulingClass=none\n"
                      "ExecStart=/bin/sh -c 'c=$$(LC_ALL=C ionice); c=$${c%%:*}; "
                      "test $$c = none -o $$c = best-effort'\n",
    "idle.service": "[Unit]\nDescription=Idle\n[Service]\nExecStart=/bin/sleep 1000\n",
}

PROPS = "-p LoadState -p ActiveState -p SubState -p Result -p ExecMainCode -p ExecMainStatus -p ConditionResult"
CONTROL = "$W/home/.config/systemd/user.control $W/xdg/systemd/user.control"
# What mask and set-property write must be seen: the control and config directories come first.
UNIT_PATH = ":".join(("$W/home/.config/systemd/user.control", "$W/xdg/systemd/user.control",
                      "$W/home/.config/systemd/user", "$W/units"))

STEPS = [
    "start noexec.service", "SLEEP 0.5", f"show {PROPS} noexec.service",
    "start noperm.service", f"show {PROPS} noperm.service",
    "start masked.service", "stop masked.service", "mask masked.service", "start masked.service",
    f"show {PROPS} -p UnitFileState masked.service", "unmask masked.service", "start masked.service",
    "is-active masked.service", "stop masked.service",
    "start cond.service", f"show {PROPS} cond.service", "is-failed cond.service",
    "start condpost.service", f"show {PROPS} condpost.service",
    "start condfail.service", f"show {PROPS} condfail.service",
    "RUN mkdir -p $W/bin && printf '#!/bin/sh\\ntest \"$1\" = arg\\n' > $W/bin/mytool && chmod +x $W/bin/mytool",
    "start search.service", f"show {PROPS} -p ExecSearchPath search.service",
    "start oom.service", f"show {PROPS} -p OOMScoreAdjust oom.service",
    "start ionone.service", f"show {PROPS} -p IOSchedulingClass ionone.service",
    "set-property idle.service CPUWeight=50 MemoryMax=20M Description=Changed",
    "show -p CPUWeight -p MemoryMax -p Description -p DropInPaths idle.service",
    "set-property --runtime idle.service TasksMax=33",
    "show -p TasksMax -p DropInPaths idle.service",
    "set-property idle.service ManagedOOMSwap=kill ManagedOOMMemoryPressure=kill "
    "ManagedOOMMemoryPressureLimit=42.5% ManagedOOMPreference=avoid",
    "show -p ManagedOOMSwap -p ManagedOOMMemoryPressure -p ManagedOOMMemoryPressureLimit -p ManagedOOMPreference "
    "-p OOMPolicy idle.service",
    "RUN cat $W/home/.config/systemd/user.control/idle.service.d/50-ManagedOOMMemoryPressureLimit.conf",
    "set-property idle.service ManagedOOMSwap=bogus",
    "show -p DefaultOOMPolicy",
    "RUN cd $W && ls -R home/.config/systemd/user.control xdg/systemd/user.control",
    "revert idle.service",
    # (not TasksMax: a user manager's DefaultTasksMax= is not ours yet)
    "show -p CPUWeight -p MemoryMax -p Description -p DropInPaths idle.service",
    f"RUN ls -A {CONTROL}",
]


def normalize(text: str) -> str:
    # revert lists the files of each drop-in directory in readdir() order.
    out: list[str] = []
    block: list[str] = []
    for line in [*text.splitlines(), ""]:
        if line.startswith("Removed ") and not line.endswith('.d".'):
            block.append(line)
            continue
        out += [*sorted(block), line]
        block = []
    return "\n".join(out)


def test_parity_defects_answer_like_systemd(tmp_path: Path) -> None:
    ours = run_script(tmp_path, "sysmasterd",
                      [sys.executable, "-m", "sysmasterd.core.main", "--user", "--runtime-dir",
                       str(tmp_path / "sysmasterd" / "run")], UNITS, STEPS, UNIT_PATH)
    theirs = run_script(tmp_path, "systemd", [SYSTEMD, "--user"], UNITS, STEPS, UNIT_PATH)
    steps = [s for s in STEPS if not s.startswith("SLEEP")]
    assert [s for s, _ in ours] == [s for s, _ in theirs] == steps
    diffs = [f"$ {step}\n--- systemd:\n{b}\n--- sysmasterd:\n{a}"
             for (step, a), (_s, b) in zip(ours, theirs, strict=True) if normalize(a) != normalize(b)]
    assert not diffs, "\n\n".join(diffs)
