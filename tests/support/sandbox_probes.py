"""Probes that print what a service sees of /proc and of its user namespace, one `name state` fact
per line, for the ProtectProc=/ProcSubset=/PrivateUsers= tests (tests/bus/test_bus_sandbox_proc.py
against expected facts, tests/oracle/test_sandbox_proc_oracle.py against systemd 252).

The scripts live in a directory every user may read (pytest's own directories are root's alone),
beside a file owned by an ID that no namespace of the tests maps.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# $VICTIM: the PID of a service running as another user (daemon).
PROC_PROBE = """#!/bin/sh
seen() { if [ -e "/proc/$1" ]; then echo "$2 visible"; else echo "$2 hidden"; fi; }
seen 1 pid1
seen "$VICTIM" victim
seen self self
sleep 5 & seen $! child
kill $!
if cat "/proc/$VICTIM/cmdline" >/dev/null 2>&1; then echo "victim-cmdline readable"; \
else echo "victim-cmdline denied"; fi
for f in meminfo cpuinfo sys; do if [ -e "/proc/$f" ]; then echo "$f present"; else echo "$f absent"; fi; done
"""
USERNS_PROBE = """#!/bin/sh
echo "uid $(id -u) $(id -g)"
for m in uid_map gid_map; do echo "$m $(awk '{printf "%s %s %s;", $1, $2, $3}' /proc/self/$m)"; done
echo "foreign $(stat -c %u:%g "$(dirname "$0")/foreign")"
echo "shadow $(stat -c %u:%g /etc/shadow)"
"""
FOREIGN_ID = 4242

# The units' settings by case: proc-<case>.service runs PROC_PROBE as nobody, <case>.service
# runs USERNS_PROBE with PrivateUsers=yes.
PROC_SETTINGS = {
    "plain": "",
    "invisible": "ProtectProc=invisible",
    "noaccess": "ProtectProc=noaccess",
    "ptraceable": "ProtectProc=ptraceable",
    "subset": "ProcSubset=pid",
    "both": "ProtectProc=invisible\nProcSubset=pid",
}
USERNS_SETTINGS = {"users-daemon": "User=daemon", "users-root": ""}
VICTIM = "[Service]\nUser=daemon\nWorkingDirectory=/\nExecStart=/bin/sleep 1000\n"


def probe_units(probes: Path, out_dir: str, env_file: str) -> dict[str, str]:
    """The victim and the probe units; each probe writes its facts to <out_dir>/<unit>.out."""
    units = {"victim.service": VICTIM}
    for case, settings in PROC_SETTINGS.items():
        units[f"proc-{case}.service"] = (
            f"[Service]\nType=oneshot\nUser=nobody\nWorkingDirectory=/\n{settings}\n"
            f"EnvironmentFile={env_file}\nStandardOutput=file:{out_dir}/proc-{case}.out\n"
            f"ExecStart={probes}/proc-probe\n")
    for case, settings in USERNS_SETTINGS.items():
        units[f"{case}.service"] = (
            f"[Service]\nType=oneshot\nWorkingDirectory=/\nPrivateUsers=yes\n{settings}\n"
            f"StandardOutput=file:{out_dir}/{case}.out\nExecStart={probes}/userns-probe\n")
    return units


@contextmanager
def probe_dir() -> Iterator[Path]:
    """proc-probe, userns-probe and the foreign file, removed afterwards."""
    d = Path(tempfile.mkdtemp(prefix="sm-proc-probes-", dir="/tmp"))
    try:
        d.chmod(0o755)
        for name, text in (("proc-probe", PROC_PROBE), ("userns-probe", USERNS_PROBE)):
            (d / name).write_text(text)
            (d / name).chmod(0o755)
        (d / "foreign").touch()
        os.chown(d / "foreign", FOREIGN_ID, FOREIGN_ID)
        yield d
    finally:
        shutil.rmtree(d)


def facts(text: str) -> dict[str, str]:
    return dict(line.split(" ", 1) for line in text.splitlines() if " " in line)
