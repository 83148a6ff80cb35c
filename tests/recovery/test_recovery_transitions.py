"""How PID 1 leaves, driven by the real systemctl with sysmaster-init as PID 1 of a PID and mount
namespace.

`switch-root`: init moves into the new root and starts a new core there, which recovers the units
from the stored state; or, with an init given, init becomes that program. The new root is a bind
mount of / with a tmpfs on /srv that only the new root has.

`--force kexec`: the units are stopped and init reboots; in a container that is a plain reboot
(the namespace's parent sees SIGHUP), as systemd-shutdown does there."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from recovery_harness import Namespace, namespace, wait_until

UNITS = {
    "boot.target": "[Unit]\nDefaultDependencies=no\nWants=sleeper.service\n",
    "sleeper.service": "[Unit]\nDefaultDependencies=no\n[Service]\nExecStart=/bin/sleep 7771\n",
    "probe.service": "[Unit]\nDefaultDependencies=no\n[Service]\nType=oneshot\n"
                     "ExecStart=/bin/sh -c 'cat /srv/marker > @RUN@/seen'\n",
}


def _new_root(ns: Namespace) -> Path:
    root = ns.tmp / "newroot"
    root.mkdir()
    script = (f"mount --rbind / {root} && mount -t tmpfs tmpfs {root}/srv && echo new-root > {root}/srv/marker && "
              f"printf '#!/bin/sh\\necho \"$@\" > /srv/args\\nexec sleep 7772\\n' > {root}/srv/init && "
              f"chmod +x {root}/srv/init && mkdir -p /run/systemd/system")
    subprocess.run([*ns.inside(), "sh", "-c", script], check=True)
    return root


def _systemctl(ns: Namespace, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": ns.address, "SYSTEMD_LOG_LEVEL": "err"}
    return subprocess.run([*ns.inside(), "systemctl", *args], capture_output=True, text=True, env=env, timeout=60)


def _in_new_root(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/root/srv/marker").read_text() == "new-root\n"
    except OSError:
        return False


def test_switch_root_keeps_init_and_the_units() -> None:
    with namespace(UNITS) as ns:
        root = _new_root(ns)
        sleeper = wait_until(lambda: ns.sleepers("7771"), 10, "sleeper.service")[0]
        old_core = ns.core_pid()
        assert not _in_new_root(ns.init_pid)
        r = _systemctl(ns, "switch-root", str(root))
        assert r.returncode == 0, (r.stderr, ns.log.read_text()[-3000:])
        core = ns.wait_ready(old_core)
        log = ns.log.read_text()
        assert f"switching root to {root}" in log
        assert _in_new_root(ns.init_pid), log[-3000:]  # the same PID 1, in the new root
        assert _in_new_root(core)
        # As under systemd, what the old root ran got SIGTERM; the new core knows it ended.
        wait_until(lambda: not ns.sleepers("7771"), 10, "the old root's service to end")
        assert sleeper not in ns.namespace_pids()
        wait_until(lambda: ns.prop("sleeper.service", "Unit", "ActiveState") in ("inactive", "failed"), 10,
                   "sleeper.service to be seen as stopped")
        r = _systemctl(ns, "start", "probe.service")
        assert r.returncode == 0, (r.stderr, ns.log.read_text()[-3000:])
        assert (ns.run / "seen").read_text() == "new-root\n"  # a service of the new core runs there
        assert not ns.zombies()


def test_switch_root_to_another_init() -> None:
    with namespace(UNITS) as ns:
        root = _new_root(ns)
        r = _systemctl(ns, "switch-root", str(root), "/srv/init")
        assert r.returncode == 0, (r.stderr, ns.log.read_text()[-3000:])

        def init_cmdline() -> list[str]:
            with open(f"/proc/{ns.init_pid}/cmdline", "rb") as f:
                return f.read().decode().split("\0")[:2]

        wait_until(lambda: init_cmdline() == ["sleep", "7772"], 20, "PID 1 to become the new init")
        assert _in_new_root(ns.init_pid)
        # It got init's own arguments, as systemd passes its argv on.
        args = Path(f"/proc/{ns.init_pid}/root/srv/args").read_text()
        assert args.startswith("--config ") and "sysmasterd.core.main" in args, args


def test_forced_kexec_stops_the_units_and_reboots() -> None:
    with namespace(UNITS) as ns:
        subprocess.run([*ns.inside(), "mkdir", "-p", "/run/systemd/system"], check=True)
        wait_until(lambda: ns.sleepers("7771"), 10, "sleeper.service")
        r = _systemctl(ns, "--force", "kexec")
        assert r.returncode == 0, (r.stderr, ns.log.read_text()[-3000:])
        assert "/sbin/kexec is not available" in r.stderr  # no kexec-tools: systemctl goes on
        assert ns.proc is not None
        assert ns.proc.wait(30) == -signal.SIGHUP, ns.log.read_text()[-3000:]
        log = ns.log.read_text()
        assert "Stopped sleeper.service" in log and "kexec: calling reboot(2)" in log, log[-3000:]
