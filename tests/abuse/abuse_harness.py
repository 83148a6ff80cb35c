"""A system-scope sysmasterd in a private PID + mount namespace, on a private system bus that
applies Debian's default system policy and our dbus/org.freedesktop.systemd1.conf, with hostile
peers run as a throwaway uid (no polkit: every mutating call of theirs is denied) and root's
well-behaved clients beside them. Everything dies with the namespace.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bus"))

from bus_harness import BASE_UNITS, REPO, Manager, Namespace, remove_cgroups

ABUSER_UID = 65534  # nobody: dbus-daemon refuses a uid without a passwd entry
PEERS = str(Path(__file__).with_name("peers.py"))
POLICY_BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:abstract={path}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
  </policy>
  <include>{policy}</include>
</busconfig>
"""
SERVICE = "[Unit]\nDescription={name}\nDefaultDependencies=no\n[Service]\nExecStart=/bin/sleep 1000\n"


class AbuseManager(Manager):
    prefix: tuple[str, ...] = ()  # a command sysmasterd runs under (prlimit ...)

    def start(self) -> None:
        paths = [arg for d in self.search_path for arg in ("--unit-path", str(d))]
        cmd = [*self.prefix, sys.executable, "-m", "sysmasterd.core.main", "--system", *paths,
               "--runtime-dir", str(self.runtime), "--bus-address", self.bus_address]
        self.proc = self.ns.popen(cmd, self.env, self.root / "sysmasterd.log")
        self.wait_ready()

    def core_pid(self) -> int:
        """sysmasterd's PID as the host sees it."""
        import psutil

        assert self.proc is not None
        for child in psutil.Process(self.proc.pid).children(recursive=True):
            if "sysmasterd.core.main" in " ".join(child.cmdline()):
                return child.pid
        raise AssertionError("no sysmasterd")

    def cpu_seconds(self) -> float:
        import psutil

        t = psutil.Process(self.core_pid()).cpu_times()
        return float(t.user + t.system)

    def start_bus(self) -> None:
        name = f"sysmaster-abuse-{os.getpid()}-{self.root.name}"
        conf = self.root / "system.conf"
        conf.write_text(POLICY_BUS_CONFIG.format(path=name, policy=REPO / "dbus" / "org.freedesktop.systemd1.conf"))
        self.bus_address = f"unix:abstract={name}"
        self.bus_conf = conf
        self.run_bus_daemon()
        self.env["DBUS_SYSTEM_BUS_ADDRESS"] = self.bus_address

    @property
    def runtime(self) -> Path:
        """The runtime dir, on the namespace's own /run (reachable by the throwaway uid, as on a host)."""
        return Path("/run/sysmaster")

    def peer(self, *args: str, uid: int = ABUSER_UID) -> subprocess.Popen[bytes]:
        """A peers.py process in the namespace (as `uid`), output in the test dir."""
        cmd = [sys.executable, PEERS, *args]
        if uid:
            cmd = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", *cmd]
        return self.ns.popen(cmd, self.env, self.root / f"peer-{args[0]}.log")

    def peer_output(self, mode: str) -> str:
        path = self.root / f"peer-{mode}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def probe(self, seconds: float) -> list[float]:
        """Root's GetUnit round trips over the private socket for `seconds`."""
        r = self.ns.run([sys.executable, PEERS, "probe", "unix:path=/run/systemd/private", str(seconds)], self.env,
                        timeout=seconds + 60)
        assert r.rc == 0, r.err
        self.probe_note = r.err.strip()
        return list(json.loads(r.out))

    def timed_start(self, name: str) -> tuple[int, float]:
        import time

        t = time.monotonic()
        r = self.systemctl("start", name, timeout=30)
        return r.rc, time.monotonic() - t

    def rss_kib(self) -> int:
        import psutil

        return int(psutil.Process(self.core_pid()).memory_info().rss // 1024)

    def active(self, name: str) -> str:
        return self.systemctl("is-active", name).out.strip()


def stop_peers(procs: list[subprocess.Popen[bytes]]) -> None:
    """Kill peers started with AbuseManager.peer (nsenter's child and setpriv's, too) and reap them."""
    import psutil

    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            for child in psutil.Process(p.pid).children(recursive=True):
                with contextlib.suppress(psutil.NoSuchProcess):
                    child.kill()
        p.kill()
        p.wait(10)


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else 0.0


def p50(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


@contextmanager
def abuse_namespace(tmp: Path, units: dict[str, str] | None = None, runtime_tmpfs: str | None = None,
                    prefix: tuple[str, ...] = ()) -> Iterator[AbuseManager]:
    """sysmasterd --system on its own units; with runtime_tmpfs ('1m'), its runtime dir (state store,
    notify socket) is a tmpfs of that size."""
    tmp.chmod(0o755)  # the throwaway uid runs peers.py from the repository, nothing from here
    ns = Namespace()
    try:
        m = AbuseManager(ns, tmp, "system", tmp / "units")
        m.prefix = prefix
        m.search_path = [m.units]
        m.units.mkdir()
        for name, text in {**BASE_UNITS, **(units or {})}.items():
            m.write_unit(name, text)
        m.env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/", "LANG": "C.UTF-8",
                 "SYSTEMD_PAGER": "", "SYSTEMD_COLORS": "0", "PYTHONPATH": str(REPO)}
        setup = [["mount", "-t", "tmpfs", "tmpfs", "/run"], ["mkdir", "-p", "/run/systemd/system"]]
        if runtime_tmpfs:
            setup.append(["mkdir", "-p", str(m.runtime)])
            setup.append(["mount", "-t", "tmpfs", "-o", f"size={runtime_tmpfs}", "tmpfs", str(m.runtime)])
        for cmd in setup:
            r = ns.run(cmd, m.env)
            assert r.rc == 0, r.err
        m.start_bus()
        m.start()
        yield m
    finally:
        ns.close()
        log = tmp / "sysmasterd.log"
        if log.exists():
            remove_cgroups(log.read_text(errors="replace"))
