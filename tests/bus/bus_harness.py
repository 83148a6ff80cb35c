"""Test harness: a private PID + mount namespace holding a private dbus-daemon, sysmasterd and the
real /usr/bin/systemctl, so nothing on the host is touched and everything dies with the namespace.

Why a PID namespace: systemctl refuses a private-socket peer whose PID it cannot see (SO_PEERCRED
gives 0 across namespaces), and it treats the host as "offline" when /proc/1/root is unreadable;
inside our own namespace PID 1 is our reaper, so both checks pass as on a booted machine.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from cgroup_cleanup import remove_named
from procwait import wait_until

REPO = Path(__file__).resolve().parents[2]
SYSTEMCTL = "/usr/bin/systemctl"
REAPER = """import os, time
while True:
    try:
        os.wait()
    except ChildProcessError:
        time.sleep(0.2)
"""
BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>{type}</type>
  <listen>unix:abstract={path}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
    <allow user="*"/>
  </policy>
</busconfig>
"""
BASE_UNITS = {
    "basic.target": "[Unit]\nDescription=Basic System\n",
    "default.target": "[Unit]\nDescription=Main User Target\nRequires=basic.target\nAfter=basic.target\n",
}


@dataclass
class Result:
    rc: int
    out: str
    err: str


def wait_for(check: Callable[[], object], what: str, timeout: float = 10.0) -> None:
    wait_until(check, timeout, what)


class Namespace:
    """A PID + mount namespace whose PID 1 is a tiny reaper; commands enter it with nsenter."""

    def __init__(self) -> None:
        self._unshare = subprocess.Popen(
            ["unshare", "--pid", "--fork", "--mount-proc", "--propagation", "private",
             sys.executable, "-c", REAPER]
        )
        wait_for(lambda: psutil.Process(self._unshare.pid).children(), "namespace")
        self.pid = psutil.Process(self._unshare.pid).children()[0].pid

    def argv(self, cmd: list[str]) -> list[str]:
        return ["nsenter", "-t", str(self.pid), "-p", "-m", "--", *cmd]

    def run(self, cmd: list[str], env: dict[str, str], timeout: float = 30) -> Result:
        r = subprocess.run(self.argv(cmd), capture_output=True, text=True, env=env, timeout=timeout)
        return Result(r.returncode, r.stdout, r.stderr)

    def popen(self, cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
        with open(log, "ab") as out:
            return subprocess.Popen(self.argv(cmd), env=env, stdout=out, stderr=out, cwd=str(REPO))

    def close(self) -> None:
        # Killing PID 1 of the namespace kills everything in it.
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self._unshare.wait(10)


@dataclass
class Manager:
    """sysmasterd in one scope on a private bus, and systemctl driving it."""

    ns: Namespace
    root: Path
    scope: str
    units: Path
    env: dict[str, str] = field(default_factory=dict)
    search_path: list[Path] = field(default_factory=list)
    bus_address: str = ""
    proc: subprocess.Popen[bytes] | None = None
    bus_proc: subprocess.Popen[bytes] | None = None
    bus_conf: Path | None = None
    bus_args: list[str] = field(default_factory=list)  # more dbus-daemon options (--systemd-activation)
    daemon_args: list[str] = field(default_factory=list)  # more sysmasterd options

    @property
    def log(self) -> str:
        return (self.root / "sysmasterd.log").read_text(errors="replace")

    @property
    def private_socket(self) -> Path:
        if self.scope == "user":
            return Path(self.env["XDG_RUNTIME_DIR"]) / "systemd" / "private"
        return Path("/run/systemd/private")  # inside the namespace's tmpfs

    @property
    def private_socket_host(self) -> Path:
        """The private socket as seen from outside the namespace (user scope only)."""
        return Path(self.env["XDG_RUNTIME_DIR"]) / "systemd" / "private"

    def start_bus(self) -> None:
        # An abstract socket: reachable from the host side of the test and by other users.
        kind = "session" if self.scope == "user" else "system"
        name = f"sysmaster-test-{os.getpid()}-{self.root.name}-{kind}"
        conf = self.root / f"{kind}.conf"
        conf.write_text(BUS_CONFIG.format(type=kind, path=name))
        self.bus_address = f"unix:abstract={name}"
        self.bus_conf = conf
        self.run_bus_daemon()
        key = "DBUS_SESSION_BUS_ADDRESS" if self.scope == "user" else "DBUS_SYSTEM_BUS_ADDRESS"
        self.env[key] = self.bus_address

    def run_bus_daemon(self) -> None:
        assert self.bus_conf is not None
        self.bus_proc = self.ns.popen(["dbus-daemon", f"--config-file={self.bus_conf}", "--nofork", "--nopidfile",
                                       *self.bus_args], self.env, self.root / "dbus.log")
        wait_for(lambda: self.ns.run(["busctl", f"--address={self.bus_address}", "status"], self.env).rc == 0,
                 "bus daemon")

    def kill_bus_daemon(self) -> None:
        """Kill the dbus-daemon (the nsenter wrapper's child) and wait until it is gone."""
        assert self.bus_proc is not None
        for child in psutil.Process(self.bus_proc.pid).children():
            child.kill()
        self.bus_proc.wait(10)

    def owns_name(self) -> bool:
        return self.ns.run(["busctl", f"--address={self.bus_address}", "status", "org.freedesktop.systemd1"],
                           self.env).rc == 0

    def start(self) -> None:
        paths = [arg for d in self.search_path for arg in ("--unit-path", str(d))]
        cmd = [sys.executable, "-m", "sysmasterd.core.main", f"--{self.scope}", *paths,
               "--runtime-dir", str(self.root / "rt"), "--bus-address", self.bus_address, *self.daemon_args]
        self.proc = self.ns.popen(cmd, self.env, self.root / "sysmasterd.log")
        self.wait_ready()

    def wait_ready(self) -> None:
        def ready() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError("sysmasterd exited:\n" + self.log)
            return "connected to the bus" in self.log and self.ns.run(["test", "-S", str(self.private_socket)],
                                                                     self.env).rc == 0

        wait_for(ready, "sysmasterd")

    def systemctl(self, *args: str, force_bus: bool = False, timeout: float = 30) -> Result:
        env = dict(self.env)
        if force_bus:
            env["SYSTEMCTL_FORCE_BUS"] = "1"
        scope = ["--user"] if self.scope == "user" else []
        return self.ns.run([SYSTEMCTL, *scope, *args], env, timeout)

    def sctl(self, *args: str, force_bus: bool = False, timeout: float = 30) -> Result:
        env = dict(self.env)
        if force_bus:
            env["SYSTEMCTL_FORCE_BUS"] = "1"
        scope = ["--user"] if self.scope == "user" else []
        return self.ns.run([sys.executable, "-m", "sysmasterd.cli.sctl", *scope, *args], env, timeout)

    def write_unit(self, name: str, text: str) -> Path:
        path = self.units / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path


def remove_cgroups(log: str) -> None:
    """Remove the cgroup subtree the daemon made, in every hierarchy (its processes are dead or
    dying: the namespace is gone), found by the name its start-up line gives."""
    found = re.search(r"cgroup (v1|v2) (/\S+?)\)", log)
    if found is not None:
        remove_named(found.group(2).rsplit("/", 1)[-1])


def make_manager(tmp: Path, scope: str, units: dict[str, str], config_dir: bool = False,
                 private_run: bool = False, setup: Sequence[list[str]] = (),
                 daemon_args: Sequence[str] = ()) -> Iterator[Manager]:
    """A manager on `units` (plus, with config_dir, the scope's control dirs, where set-property
    writes, and its config dirs, where enable/mask/set-default write, in front, in systemd's order).
    With private_run, all of /run is a tmpfs of the namespace (for units that work below /run).
    `setup`: more commands run in the namespace before the daemon starts (private mounts)."""
    ns = Namespace()
    try:
        m = Manager(ns, tmp, scope, tmp / "units", daemon_args=list(daemon_args))
        if scope == "user":
            config, runtime = tmp / "home/.config/systemd/user", tmp / "xdg/systemd/user"
        else:
            config, runtime = Path("/etc/systemd/system"), Path("/run/systemd/system")
        controls = [d.with_name(d.name + ".control") for d in (config, runtime)]
        m.search_path = [*controls, config, runtime] if config_dir else []
        m.search_path.append(m.units)
        m.units.mkdir()
        for name, text in {**BASE_UNITS, **units}.items():
            m.write_unit(name, text)
        m.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(tmp / "home"),
            "LANG": "C.UTF-8",
            "SYSTEMD_PAGER": "",
            "SYSTEMD_COLORS": "0",
            "PYTHONPATH": str(REPO),
            # systemctl reads unit files itself for `cat`, `is-enabled`, ... when told where.
            "SYSTEMD_UNIT_PATH": ":".join(map(str, m.search_path)) + ":",
        }
        (tmp / "home").mkdir()
        if scope == "user":
            xdg = tmp / "xdg"
            xdg.mkdir(mode=0o700)
            m.env["XDG_RUNTIME_DIR"] = str(xdg)
        # "Booted with systemd" is /run/systemd/system/ existing; a tmpfs in our mount namespace.
        mounts = [["mount", "-t", "tmpfs", "tmpfs", "/run"], ["mkdir", "/run/systemd"]] if private_run else []
        mounts += [["mount", "-t", "tmpfs", "tmpfs", "/run/systemd"], ["mkdir", "/run/systemd/system"]]
        if config_dir and scope == "system":  # /etc/systemd, private to the namespace
            mounts += [["mount", "-t", "tmpfs", "tmpfs", "/etc/systemd"], ["mkdir", "/etc/systemd/system"]]
        for cmd in [*mounts, *setup]:
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
