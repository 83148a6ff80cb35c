"""devmaster against hung programs and hostile control values: a RUN/PROGRAM killed at the event
timeout takes what it started with it, and SET_LOG_LEVEL outside the syslog priorities is ignored
as udevd ignores it."""

from __future__ import annotations

import os
import signal
import subprocess
import textwrap
import time
from collections.abc import Iterator

import psutil
import pytest
from dm_sandbox import Sandbox

from sysmasterd.devmaster.framework.control_wire import ControlMessage, ControlType, pack

pytestmark = pytest.mark.root

# Unique enough that only what this test's rule started matches.
TOKEN = f"987.{os.getpid()}"
RULES = f"""\
SUBSYSTEM=="mem", KERNEL=="null", ENV{{DMABUSE_HANG}}=="1", \
  PROGRAM="/bin/sh -c '/bin/sleep {TOKEN} & /bin/sleep {TOKEN}'"
"""


def leftovers() -> list[psutil.Process]:
    found = []
    for p in psutil.process_iter(["cmdline"]):
        if p.info["cmdline"] and TOKEN in " ".join(p.info["cmdline"]):
            found.append(p)
    return found


@pytest.fixture(scope="module")
def devmaster(box: Sandbox) -> Iterator[subprocess.Popen[str]]:
    box.write("/run/udev/rules.d/00-dmabuse.rules", RULES)
    proc = box.start_devmaster("--event-timeout=2")
    yield proc
    box.stop_devmaster(proc)
    for p in leftovers():  # started by this test's rule, found by its unique argument
        p.send_signal(signal.SIGKILL)


def test_timed_out_program_takes_its_children_along(box: Sandbox, devmaster: subprocess.Popen[str]) -> None:
    assert box.run(["udevadm", "control", "--property=DMABUSE_HANG=1"]).returncode == 0
    try:
        box.sh("echo change > /sys/devices/virtual/mem/null/uevent")
        deadline = time.monotonic() + 5
        while not leftovers() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(leftovers()) >= 2, "the rule's program did not start"
        deadline = time.monotonic() + 10
        while leftovers() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not leftovers(), [p.cmdline() for p in leftovers()]
    finally:
        box.run(["udevadm", "control", "--property=DMABUSE_HANG="])
    assert "killed" in box.log()
    assert box.run(["udevadm", "settle", "-t", "30"]).returncode == 0


def test_set_log_level_outside_syslog_priorities_ignored(box: Sandbox, devmaster: subprocess.Popen[str]) -> None:
    messages = [pack(ControlMessage(ControlType.SET_LOG_LEVEL, v)).hex() for v in (99, -5, 8)]
    end = pack(ControlMessage(ControlType.END_MESSAGES)).hex()
    script = textwrap.dedent(f"""
        import socket
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET); s.connect('/run/udev/control')
        for m in {messages!r} + [{end!r}]:
            s.send(bytes.fromhex(m))
        s.settimeout(10)
        print(s.recv(10) == b'')
    """)
    r = box.python(script)
    assert r.stdout.strip() == "True", r.stderr
    # none of them applied: the daemon still logs at info level, so a ping leaves no debug line
    assert box.run(["udevadm", "control", "--ping"]).returncode == 0
    assert "Received udev control message (PING)" not in box.log()
    # A valid one still applies.
    assert box.run(["udevadm", "control", "--log-level=debug"]).returncode == 0
    assert box.run(["udevadm", "control", "--ping"]).returncode == 0
    assert "Received udev control message (PING)" in box.log()
    assert box.run(["udevadm", "control", "--log-level=info"]).returncode == 0
