"""A scripted session of systemctl commands run twice — through /usr/bin/systemctl against one
sysmasterd and through sctl against another started the same way — and compared command by
command: exit code, stdout and stderr, with only timestamps, PIDs and the temp directory masked.
The two managers live through the same sequence, so state-changing verbs (enable, mask, start,
kill, reset-failed) leave both in the same state for the next command."""

from __future__ import annotations

import difflib
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from bus_harness import REPO, SYSTEMCTL, Manager, Result, make_manager, wait_for


def units(tmp: Path) -> dict[str, str]:
    return {
        "sleepy.service": "[Unit]\nDescription=Sleepy test\n[Service]\nExecStart=/bin/sleep 1000\n"
                          "[Install]\nWantedBy=default.target\n",
        "fail.service": "[Unit]\nDescription=Failing\n[Service]\nType=oneshot\nExecStart=/bin/false\n",
        "quiet.service": "[Unit]\nDescription=Never started\n[Service]\nExecStart=/bin/sleep 1000\n",
        "helper.service": "[Unit]\nDescription=Helper\nPartOf=sleepy.service\n[Service]\nExecStart=/bin/sleep 1000\n",
        "tick.timer": "[Unit]\nDescription=Tick timer\n[Timer]\nOnActiveSec=1h\n[Install]\nWantedBy=timers.target\n",
        "tick.service": "[Unit]\nDescription=Tick\n[Service]\nType=oneshot\nExecStart=/bin/true\n",
        "echo.socket": f"[Unit]\nDescription=Echo socket\n[Socket]\nListenStream={tmp}/echo.sock\n"
                       f"ListenDatagram={tmp}/echo.dgram\n",
        "echo.service": "[Unit]\nDescription=Echo\n[Service]\nExecStart=/bin/cat\n",
        "timers.target": "[Unit]\nDescription=Timers\n",
        "group.target": "[Unit]\nDescription=Group\nWants=sleepy.service helper.service sub.target\n",
        "sub.target": "[Unit]\nDescription=Sub\nWants=quiet.service\n",
    }


# One command a line; "SYSTEMD_COLORS=1 list-units" sets the variable for that command only.
SESSION = """
--version
is-system-running
get-default
start sleepy.service
is-active sleepy.service
is-active quiet.service nope.service
is-active -q sleepy.service
is-failed sleepy.service
status nope.service
status quiet.service
status -n0 quiet.service
start 'bad name'
start nope.service
start fail.service
is-failed fail.service
list-units
list-units --plain
list-units --failed
--failed
list-units --state=failed --plain
list-units --state=failed,inactive --type=service
list-units --all --no-legend
list-units --type=service
list-units --type=service,target --all
list-units --type=timer --all
list-units -t socket --all
list-units sleepy
list-units 'sl*'
list-units --type=bogus
list-units -o json --type=service
list-units -o json-pretty --state=failed
list-units -o bogus
SYSTEMD_COLORS=1 list-units --type=service,target
SYSTEMD_COLORS=1 list-units --failed
show -p Id,ActiveState sleepy.service
show -P SubState sleepy.service
show -p ActiveState --value fail.service
reset-failed fail.service
is-failed fail.service
reset-failed
start group.target
list-dependencies
list-dependencies group.target
list-dependencies --plain group.target
list-dependencies --all group.target
list-dependencies --reverse sleepy.service
list-dependencies --reverse --plain quiet.service
list-dependencies --after sleepy.service
SYSTEMD_COLORS=1 list-dependencies group.target
restart sleepy.service
stop sleepy.service
is-active sleepy.service
kill sleepy.service
kill --signal=SIGHUP quiet.service
list-jobs
list-unit-files
list-unit-files --type=service
list-unit-files --type=target --no-legend
list-unit-files 'sl*'
list-unit-files --state=static
SYSTEMD_COLORS=1 list-unit-files
cat sleepy.service
cat nope.service
is-enabled sleepy.service
enable sleepy.service
is-enabled sleepy.service
list-dependencies default.target
disable sleepy.service
is-enabled sleepy.service
mask quiet.service
is-enabled quiet.service
status quiet.service
start quiet.service
unmask quiet.service
is-enabled quiet.service
is-enabled nope.service
daemon-reload
list-timers
list-timers --all
list-sockets
list-sockets --all
start tick.timer
list-timers
list-timers --no-legend
list-timers -o json tick
start echo.socket
list-sockets
list-sockets --show-types
list-sockets -o json
is-active tick.timer echo.socket
enable --runtime tick.timer
is-enabled tick.timer
--full is-enabled tick.timer
--runtime --full is-enabled tick.timer
disable --runtime tick.timer
--no-reload enable sleepy.service
-q disable sleepy.service
enable quiet.service
reenable sleepy.service
reenable quiet.service
add-wants default.target quiet.service
add-requires default.target helper.service
is-enabled quiet.service helper.service
add-wants nope.target quiet.service
preset sleepy.service
preset-all
list-unit-files --state=enabled
list-unit-files --state=bad
revert quiet.service
revert helper.service
disable sleepy.service
is-enabled sleepy.service quiet.service helper.service
start --job-mode=fail quiet.service
--job-mode=bogus start quiet.service
--fail stop quiet.service
restart --wait tick.service
log-level
log-level debug
log-level
log-level bogus
log-level 9
log-level info
log-target
log-level info extra
service-watchdogs
service-watchdogs no
service-watchdogs
service-watchdogs maybe
service-watchdogs yes
cancel
cancel 4294967
cancel abc
start sleepy.service
freeze sleepy.service
show -p FreezerState sleepy.service
thaw sleepy.service
show -p FreezerState sleepy.service
freeze 'sle*'
thaw sleepy.service
thaw nope.service
clean sleepy.service
clean --what=help
clean --what= sleepy.service
clean --what=bogus sleepy.service
stop sleepy.service
clean --what=runtime,cache sleepy.service
clean nope.service
is-enabled --full sleepy.service
--runtime --full is-enabled sleepy.service
check sleepy.service
check nope.service
condstop quiet.service
reload-or-try-restart sleepy.service
condreload sleepy.service
clear-jobs
help
help sleepy.service
help nope.service
list-automounts
list-automounts --all nothing
list-machines
list-machines 'nomatch*'
bind sleepy.service
bind sleepy.service /tmp
bind --mkdir --read-only sleepy.service /tmp /mnt
mount-image sleepy.service /x.raw /mnt root:ro
mount-image sleepy.service /x.raw /mnt bogus:ro
switch-root
switch-root /sysroot
service-log-level
service-log-level sleepy.service
service-log-target sleepy.service journal
suspend
rescue
kexec
--force kexec
exit 300
import-environment LANG
import-environment NOT_SET_ANYWHERE
import-environment 1BAD
show-environment
--wait start fail.service
--wait stop quiet.service
edit sleepy.service
TTY SYSTEMD_EDITOR={root}/ed-desc.sh edit sleepy.service
cat sleepy.service
show -p Description sleepy.service
TTY SYSTEMD_EDITOR={root}/ed-desc.sh edit sleepy.service
TTY SYSTEMD_EDITOR={root}/ed-desc.sh edit --runtime sleepy.service
TTY SYSTEMD_EDITOR={root}/ed-desc.sh edit --runtime quiet.service
cat quiet.service
TTY SYSTEMD_EDITOR={root}/ed-empty.sh edit fail.service
TTY SYSTEMD_EDITOR={root}/ed-fail.sh edit fail.service
cat fail.service
TTY SYSTEMD_EDITOR={root}/ed-desc.sh edit nope.service
TTY SYSTEMD_EDITOR={root}/ed-new.sh edit --force --full new.service
cat new.service
show -p Description new.service
TTY SYSTEMD_EDITOR={root}/ed-full.sh edit --full tick.service
cat tick.service
TTY SYSTEMD_EDITOR={root}/ed-desc.sh edit --no-reload 'ech*'
cat echo.service
mask helper.service
TTY SYSTEMD_EDITOR={root}/ed-desc.sh edit helper.service
unmask helper.service
TTY edit
set-property sleepy.service CPUWeight=200 MemoryMax=100M
show -p CPUWeight -p MemoryMax sleepy.service
set-property --runtime sleepy.service TasksMax=50% MemoryMax= CPUWeight=
set-property sleepy.service CPUWeight=idle Description=Set%h TasksMax=infinity
show -p CPUWeight -p MemoryMax -p TasksMax -p Description sleepy.service
cat sleepy.service
set-property sleepy.service CPUWeight=abc
set-property sleepy.service CPUWeight=0
set-property sleepy.service MemoryMax=lots
set-property sleepy.service MemoryMax=150%
set-property sleepy.service TasksMax=-1
set-property sleepy.service Foo=bar
set-property sleepy.service CPUWeight
set-property sleepy.service MemoryHigh=1G
set-property sleepy.service Environment=A=1
set-property sleepy.service TimeoutStopSec=5
set-property sleepy.service CPUQuota=20%
set-property sleepy.service MemoryAccounting=maybe
set-property nope.service CPUWeight=100
set-property tick.timer Persistent=yes
set-property tick.timer CPUWeight=100
set-property default.target Description=Default
set-property sleepy.service
--no-pager status quiet.service
SYSTEMD_PAGER=cat list-units --type=service
SYSTEMD_PAGER=false list-unit-files --type=target
reset-failed
--bogus
frobnicate
start
--wait --no-block start quiet.service
-t bogus list-units
--state= list-units
--legend=maybe list-units
-n x status
start sleepy.service
show 'sl*' -p Id
status 'sl*'
cat 'sl*'
is-active 'sl*' 'qu*'
stop 'sl*'
start --all 'sl*'
show --with-dependencies -p Id group.target
status default.target
status tick.timer
status echo.socket
status echo.service
show -p Id --type=service
show -p Id --state=failed
status --type=target
show -p Progress
list-dependencies 'gr*'
list-units --state=help
list-units --type=help
-t help,service list-units
--preset-mode=help
unset-environment
set-environment
preset --preset-mode=bogus sleepy.service
preset --preset-mode=enable-only quiet.service
is-enabled quiet.service
start --show-transaction helper.service
-T restart helper.service
-H host list-units
--host=x status
--check-inhibitors=maybe stop quiet.service
--dry-run stop sleepy.service
is-active sleepy.service
--dry-run daemon-reload
--firmware-setup reboot
halt
--force poweroff
isolate
isolate a b
get-default x
daemon-reload x
kill --signal=bogus sleepy.service
--timestamp=unix show -p Id,InactiveEnterTimestamp quiet.service
--timestamp=help
--timestamp=bogus status
--marked reload-or-restart
--marked start sleepy.service
--marked reload-or-restart sleepy.service
reload-or-restart
--message=hi -i stop quiet.service
mask nope.service
unmask nope.service
status 1
show 99999 -p Id
list-jobs --after
--global start quiet.service
--global is-active quiet.service
TTY TERM=xterm SYSTEMD_PAGERSECURE=1 SYSTEMD_PAGER={root}/pager.sh list-unit-files --type=target
TTY TERM=xterm SYSTEMD_PAGERSECURE=1 SYSTEMD_PAGER={root}/pager.sh --no-pager list-unit-files --type=target
TTY TERM=xterm SYSTEMD_PAGERSECURE=1 SYSTEMD_PAGER=cat list-unit-files --type=target
TTY TERM=xterm SYSTEMD_PAGERSECURE=1 SYSTEMD_PAGER={root}/pager.sh cat quiet.service
TTY TERM=xterm SYSTEMD_PAGERSECURE=1 SYSTEMD_PAGER={root}/pager.sh is-enabled quiet.service
TTY TERM=xterm SYSTEMD_PAGERSECURE=1 PAGER={root}/pager.sh show -p Id quiet.service
TTY TERM=dumb SYSTEMD_PAGERSECURE=1 SYSTEMD_PAGER={root}/pager.sh show -p Id quiet.service
"""

# Differences that are right: the version line names this implementation.
KNOWN = {"--version"}


def normalize(text: str, root: Path) -> str:
    text = text.replace(str(root), "ROOT")
    text = re.sub(r"(sysmaster-test-\d+-session)\d+", r"\1N", text)  # each side has its own bus
    text = re.sub(r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \w+", "TIMESTAMP", text)
    text = re.sub(r"\b\d+(?:\.\d+)?(?:us|ms|s|min|h)(?: \d+(?:us|ms|s|min))? (ago|left)", r"SPAN \1", text)
    text = re.sub(r'("(?:next|last|left|passed)":)\d+', r"\1USEC", text)
    text = re.sub(r"(Main PID: |Process: |└─|├─)\d+", r"\1PID", text)
    text = re.sub(r"(Memory: |CPU: )\S+", r"\1N", text)  # what the running service used so far
    text = re.sub(r"=@\d+$", "=@EPOCH", text, flags=re.M)  # --timestamp=unix
    text = re.sub(r"sysmaster\.user-[0-9a-f]+", "sysmaster.user-N", text)  # each manager's own cgroup
    text = re.sub(r"(Duration: ).*", r"\1SPAN", text)
    return re.sub(r"^(\S*systemctl|\S*sctl): ", "PROG: ", text, flags=re.M)


# Non-interactive editors for `edit` (run on a terminal, as systemctl requires): each shows what
# it was given, so the temporary file's text is compared too.
EDITORS = {
    "ed-desc.sh": "for f; do cat \"$f\"; echo; sed -i '/^### Anything between here/a [Unit]\\nDescription=Edited' "
                  "\"$f\"; done\n",
    "ed-empty.sh": "for f; do : > \"$f\"; done\n",
    "ed-fail.sh": "exit 3\n",
    "ed-new.sh": "for f; do test -e \"$f\" && echo exists; printf '[Unit]\\nDescription=Brand new\\n"
                 "[Service]\\nExecStart=/bin/sleep 1000\\n' > \"$f\"; done\n",
    "ed-full.sh": "for f; do cat \"$f\"; sed -i 's/^Description=.*/Description=Full copy/' \"$f\"; done\n",
    # a pager that marks what went through it (and the options systemd gives less)
    "pager.sh": "echo \"LESS=$LESS LESSSECURE=$LESSSECURE\"; sed 's/^/paged: /'\n",
}


def write_editors(root: Path) -> None:
    for name, body in EDITORS.items():
        path = root / name
        path.write_text("#!/bin/sh\n" + body)
        path.chmod(0o755)


def on_tty(m: Manager, tool: str, args: list[str]) -> Result:
    """The command on a pseudo-terminal (stdin, stdout and stderr); its output as one stream."""
    argv = [SYSTEMCTL] if tool == "systemctl" else [sys.executable, "-m", "sysmasterd.cli.sctl"]
    master, slave = os.openpty()
    try:
        proc = subprocess.Popen(m.ns.argv([*argv, "--user", *args]), stdin=slave, stdout=slave, stderr=slave,
                                env=m.env, start_new_session=True)
    finally:
        os.close(slave)
    chunks = []
    try:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: every holder of the terminal is gone
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(master)
    rc = proc.wait(30)
    return Result(rc, b"".join(chunks).decode(errors="replace").replace("\r\n", "\n"), "")


def run_session(m: Manager, tool: str) -> list[Result]:
    results = []
    write_editors(m.root)
    for line in SESSION.strip().splitlines():
        tty = line.startswith("TTY ")
        env, args = _split(line.removeprefix("TTY ").replace("{root}", str(m.root)))
        saved = dict(m.env)
        m.env.update(env)
        try:
            if tty:
                r = on_tty(m, tool, args)
            else:
                r = (m.systemctl if tool == "systemctl" else m.sctl)(*args)
        finally:
            m.env.clear()
            m.env.update(saved)
        results.append(Result(r.rc, normalize(r.out, m.root), normalize(r.err, m.root)))
        if args[:1] == ["start"] and args[1:2] == ["group.target"]:
            wait_for(lambda: m.systemctl("is-active", "helper.service").rc == 0, "group started")
    return results


def _split(line: str) -> tuple[dict[str, str], list[str]]:
    words = shlex.split(line)
    env = {}
    while words and re.match(r"^[A-Z_]+=", words[0]):
        key, _, value = words.pop(0).partition("=")
        env[key] = value
    return env, words


@pytest.fixture(scope="module")
def sessions(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[list[Result], list[Result]]]:
    out = []
    for tool in ("systemctl", "sctl"):
        tmp = tmp_path_factory.mktemp("session")  # the same length for both: it widens columns
        gen = make_manager(tmp, "user", units(tmp), config_dir=True)
        m = next(gen)
        try:
            out.append(run_session(m, tool))
        finally:
            for _ in gen:  # runs the harness's clean-up
                pass
    yield out[0], out[1]


def test_session_same_output(sessions: tuple[list[Result], list[Result]]) -> None:
    real, ours = sessions
    diffs = []
    for line, a, b in zip(SESSION.strip().splitlines(), real, ours, strict=True):
        if line in KNOWN or (a.rc, a.out, a.err) == (b.rc, b.out, b.err):
            continue
        diff = [f"=== {line}: exit {a.rc} (systemctl) vs {b.rc} (sctl)"]
        for x, y, name in ((a.out, b.out, "stdout"), (a.err, b.err, "stderr")):
            diff += difflib.unified_diff(x.splitlines(), y.splitlines(), f"systemctl {name}", f"sctl {name}",
                                         lineterm="", n=1)
        diffs.append("\n".join(diff))
    assert not diffs, f"{len(diffs)} of {len(real)} commands differ:\n" + "\n".join(diffs)


@pytest.mark.parametrize("env", [
    {"XDG_RUNTIME_DIR": "/nonexistent", "DBUS_SESSION_BUS_ADDRESS": "unix:path=/nonexistent/bus"},
    {"XDG_RUNTIME_DIR": "/nonexistent"},
])
def test_unreachable_manager(env: dict[str, str]) -> None:
    """No manager and no bus: the same message and exit code (nothing is started, nothing touched)."""
    import os
    import subprocess
    import sys

    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "PYTHONPATH": str(REPO), **env}
    for args in (["--user", "is-active", "x.service"], ["--user", "list-units"], ["--user", "start", "x"]):
        real = subprocess.run(["/usr/bin/systemctl", *args], capture_output=True, text=True, env=base)
        ours = subprocess.run([sys.executable, "-m", "sysmasterd.cli.sctl", *args], capture_output=True, text=True,
                              env=base)
        assert (ours.returncode, ours.stdout, ours.stderr) == (real.returncode, real.stdout, real.stderr), args
