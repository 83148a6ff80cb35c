"""A transient service made by the real systemd-run survives a core that is killed (SIGKILL, not
a re-exec): the next core still holds its client's pipes (kept by init) and still tells the
client, whose subscription and reference it restored, when the unit is done."""

from __future__ import annotations

import os
import subprocess
import time

from pipe_client import output_when_done, reaped
from recovery_harness import namespace, wait_until


def test_pipe_outlives_a_killed_core() -> None:
    units = {"boot.target": "[Unit]\nDefaultDependencies=no\n"}
    with namespace(units) as ns:
        mark = ns.run / "first-run-done"
        script = f"if [ -e {mark} ]; then echo second; exit 0; fi; touch {mark}; echo first; exit 1"
        env = {**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": ns.address, "SYSTEMD_LOG_LEVEL": "err"}
        # In the namespace (its /proc for systemd-run's checks), with the marker of a running
        # service manager on the namespace's own /run/systemd (a --runtime-dir core makes none).
        inside = ns.inside()
        subprocess.run([*inside, "mkdir", "-p", "/run/systemd/system"], check=True)
        props = ["-p", "DefaultDependencies=no", "-p", "Restart=on-failure", "-p", "RestartSec=3"]
        proc = subprocess.Popen([*inside, "systemd-run", "--system", "--quiet", "--pipe", *props,
                                 "/bin/sh", "-c", script],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=env)
        with reaped(proc):
            wait_until(lambda: mark.exists() or proc.poll() is not None, 20, "the first run")
            assert mark.exists(), proc.communicate()
            time.sleep(0.3)
            old = ns.kill_core()  # while the restart is pending
            ns.wait_ready(old)
            out, err = output_when_done(proc, 30, lambda: ns.log.read_text()[-3000:])
        assert out == "first\nsecond\n", (out, err, ns.log.read_text()[-3000:])
