"""The real sysmasterd under sysmaster-init, in a PID namespace (no D-Bus)."""

import contextlib
import hashlib
import importlib.util
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from init_harness import INIT, REPO, proc_children, proc_status, wait_until

pytestmark = [
    pytest.mark.root, pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("sysmasterd.core.main") is None, reason="no core"),
]
CGROUP_ROOTS = ("/sys/fs/cgroup/unified", "/sys/fs/cgroup/systemd")


@contextlib.contextmanager
def _cgroup_cleanup(runtime_dir: Path) -> Iterator[None]:
    """Core makes its cgroup subtree on the host's hierarchy, named after its runtime dir (see
    sysmasterd/core/main.py); remove what this test left, and nothing of anyone else's."""
    tag = hashlib.sha1(str(runtime_dir).encode()).hexdigest()[:8]
    try:
        yield
    finally:
        for root in CGROUP_ROOTS:
            with contextlib.suppress(OSError):
                for top in [os.path.join(root, d) for d in os.listdir(root) if d.endswith(tag)]:
                    for path, _dirs, _files in sorted(os.walk(top), key=lambda w: -w[0].count("/")):
                        with contextlib.suppress(OSError):
                            os.rmdir(path)


def test_real_core_runs_services_is_restarted_and_powers_off(short_tmp: Path) -> None:
    units, run = short_tmp / "units", short_tmp / "run"
    units.mkdir()
    (units / "boot.target").write_text("[Unit]\nWants=sleeper.service\nAfter=sleeper.service\n")
    (units / "sleeper.service").write_text(
        f"[Service]\nExecStart=/bin/sh -c 'echo $$$$ > {short_tmp}/sleeper.pid; exec sleep 300'\n")
    conf = short_tmp / "init.conf"
    # heartbeat_interval = 0: the core does not send heartbeats (yet), only exits are watched.
    conf.write_text(f"binary = {sys.executable}\nheartbeat_interval = 0\nshutdown_timeout = 3\n"
                    "kill_timeout = 2\n")
    argv = ["unshare", "--pid", "--fork", "--mount-proc", *INIT, "--config", str(conf), "--",
            "-m", "sysmasterd.core.main", "--system", "--no-bus", "--unit-path", str(units),
            "--runtime-dir", str(run), "--unit", "boot.target"]
    log = short_tmp / "log"
    with _cgroup_cleanup(run), open(log, "wb") as out:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                env={**os.environ, "PYTHONPATH": str(REPO)})
        init = 0
        try:
            init = wait_until(lambda: proc_children(proc.pid), 5, "init")[0]
            core = wait_until(lambda: proc_children(init), 10, "core")[0]
            pidfile = short_tmp / "sleeper.pid"
            ns_pid = int(wait_until(lambda: pidfile.exists() and pidfile.read_text().strip(), 20,
                                    "sleeper.service"))
            sleeper = next(p for p in proc_children(core)
                           if proc_status(p)["NSpid"].split()[-1] == str(ns_pid))
            assert proc_status(core)["NSpid"].split()[-1] == "2"  # init's first child
            os.kill(core, signal.SIGKILL)
            new_core = wait_until(lambda: [p for p in proc_children(init) if p not in (core, sleeper)],
                                  10, "a new core")[0]
            # init logs the start after the fork: the new child can be seen a moment before
            wait_until(lambda: "start 2" in log.read_text(), 5, "init's log of the second start")
            assert proc_status(sleeper).get("State", "Z")[0] != "Z"  # the service outlived its core
            assert proc_status(new_core)["PPid"] == str(init)
            os.kill(init, signal.SIGRTMIN + 4)
            assert proc.wait(20) == -signal.SIGINT
        finally:
            if proc.poll() is None:
                if init:
                    os.kill(init, signal.SIGKILL)  # the namespace goes with its PID 1
                proc.kill()
                proc.wait(10)
