"""KillMode=, the notify protocol (with Debian's real systemd-notify), the watchdog and cgroup tracking."""

from __future__ import annotations

import os
import shutil
import sys
import time

import pytest
from core_harness import Harness

from sysmasterd.core.states import JobResult

SD_NOTIFY = shutil.which("systemd-notify")


def _forker(h: Harness, pidfile: str) -> str:
    # The main process leaves a grandchild behind, then keeps running.
    return h.script("forker.sh", f"""
        sleep 1000 &
        echo $! > {pidfile}
        exec sleep 1000
    """)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize(("mode", "child_survives"), [("control-group", False), ("mixed", False),
                                                       ("process", True)])
def test_kill_mode(h: Harness, mode: str, child_survives: bool) -> None:
    pidfile = h.tmp / "child.pid"
    h.write("k.service", f"""
        [Service]
        KillMode={mode}
        TimeoutStopSec=2
        ExecStart={_forker(h, str(pidfile))}
    """)
    h.start("k.service")
    h.wait(lambda: pidfile.exists() and pidfile.read_text().strip() != "", 5, "grandchild")
    child = int(pidfile.read_text())
    assert h.stop("k.service") is JobResult.DONE
    h.sleep(0.1)
    assert _alive(child) is child_survives
    if child_survives:
        os.kill(child, 9)


def test_cgroup_tracks_every_process(h: Harness) -> None:
    pidfile = h.tmp / "child.pid"
    h.write("cg.service", f"[Service]\nExecStart={_forker(h, str(pidfile))}\n")
    h.start("cg.service")
    h.wait(lambda: pidfile.exists() and pidfile.read_text().strip() != "", 5, "grandchild")
    m = h.manager
    assert m.cgroups is not None and m.cgroups.enabled
    pids = set(m.cgroups.pids("cg.service"))
    assert int(pidfile.read_text()) in pids
    assert h.unit("cg.service").impl.main_pid() in pids
    assert m.runtime.unit_of_pid(int(pidfile.read_text())) is h.unit("cg.service")


def test_notify_ready_from_main_process(h: Harness) -> None:
    prog = h.tmp / "notify.py"
    prog.write_text(
        "import os, socket, time\n"
        "time.sleep(0.3)\n"
        "s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
        "s.connect(os.environ['NOTIFY_SOCKET'])\n"
        "s.send(b'READY=1\\nSTATUS=Serving requests')\n"
        "time.sleep(1000)\n")
    h.write("n.service", f"[Service]\nType=notify\nExecStart={sys.executable} {prog}\n")
    assert h.start("n.service") is JobResult.DONE
    u = h.unit("n.service")
    assert u.ts["active_enter"].monotonic - u.ts["inactive_exit"].monotonic >= 250_000
    assert u.impl.status_text == "Serving requests"


@pytest.mark.skipif(SD_NOTIFY is None, reason="Debian's systemd-notify is not installed")
def test_debian_systemd_notify_ready(h: Harness) -> None:
    script = h.script("sdn.sh", f"""
        {SD_NOTIFY} --ready --status="up and running"
        exec sleep 1000
    """)
    h.write("sdn.service", f"[Service]\nType=notify\nNotifyAccess=all\nExecStart={script}\n")
    assert h.start("sdn.service") is JobResult.DONE
    assert h.unit("sdn.service").impl.status_text == "up and running"


def test_notify_from_wrong_pid_is_refused(h: Harness) -> None:
    # A child (not the main process) says READY=1 with its own credentials: NotifyAccess=main refuses it.
    sender = h.tmp / "send.py"
    sender.write_text(
        "import os, socket\n"
        "s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
        "s.connect(os.environ['NOTIFY_SOCKET'])\n"
        "s.send(b'READY=1')\n")
    script = h.script("wrong.sh", f"""
        {sys.executable} {sender}
        exec sleep 1000
    """)
    h.write("w.service", f"[Service]\nType=notify\nTimeoutStartSec=0.7\nExecStart={script}\n")
    assert h.start("w.service") is JobResult.FAILED
    assert h.unit("w.service").impl.result() == "timeout"


def test_watchdog_kills_silent_service(h: Harness) -> None:
    prog = h.tmp / "wd.py"
    prog.write_text(
        "import os, socket, time\n"
        "s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
        "s.connect(os.environ['NOTIFY_SOCKET'])\n"
        "s.send(b'READY=1')\n"
        "for _ in range(3):\n"
        "    time.sleep(0.1); s.send(b'WATCHDOG=1')\n"
        "time.sleep(1000)\n")
    h.write("wd.service", f"[Service]\nType=notify\nWatchdogSec=0.5\nExecStart={sys.executable} {prog}\n")
    assert h.start("wd.service") is JobResult.DONE
    u = h.unit("wd.service")
    h.wait(lambda: u.active_state.value == "failed", 5, "watchdog")
    assert u.impl.result() == "watchdog"


def test_watchdog_abort_waits_timeout_abort_sec_not_the_stop_timeout(h: Harness) -> None:
    # The service ignores the watchdog's SIGABRT: it is killed after TimeoutAbortSec=, long
    # before TimeoutStopSec= would have run out.
    prog = h.tmp / "stubborn.py"
    prog.write_text(
        "import os, signal, socket, time\n"
        "signal.signal(signal.SIGABRT, signal.SIG_IGN)\n"
        "s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
        "s.connect(os.environ['NOTIFY_SOCKET'])\n"
        "s.send(b'READY=1')\n"
        "time.sleep(1000)\n")
    h.write("stubborn.service", "[Service]\nType=notify\nWatchdogSec=0.5\nTimeoutAbortSec=1\nTimeoutStopSec=30\n"
                                f"ExecStart={sys.executable} {prog}\n")
    assert h.start("stubborn.service") is JobResult.DONE
    u = h.unit("stubborn.service")
    t0 = time.monotonic()
    h.wait(lambda: u.sub_state == "stop-watchdog", 5, "the watchdog")
    h.wait(lambda: u.active_state.value == "failed", 5, "the kill after TimeoutAbortSec=")
    assert time.monotonic() - t0 < 4
    assert u.impl.result() == "watchdog"


def test_mainpid_and_extend_timeout(h: Harness) -> None:
    prog = h.tmp / "ext.py"
    prog.write_text(
        "import os, socket, time\n"
        "s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
        "s.connect(os.environ['NOTIFY_SOCKET'])\n"
        "s.send(b'EXTEND_TIMEOUT_USEC=2000000')\n"
        "time.sleep(0.8)\n"
        "s.send(b'READY=1')\n"
        "time.sleep(1000)\n")
    h.write("ext.service", f"[Service]\nType=notify\nTimeoutStartSec=0.5\nExecStart={sys.executable} {prog}\n")
    assert h.start("ext.service") is JobResult.DONE


def test_state_is_stored(h: Harness) -> None:
    h.write("s.service", "[Service]\nExecStart=/bin/sleep 1000\n")
    h.start("s.service")
    store = h.manager.store
    assert store is not None
    saved = store.units()["s.service"]
    assert saved["impl"]["state"] == "running"
    assert saved["impl"]["main_pid"] == h.unit("s.service").impl.main_pid()
    assert saved["impl"]["main_pid_start"]
    assert len(saved["invocation_id"]) == 32
