"""A PID namespace with sysmaster-init as PID 1, the real sysmasterd under it on a private bus,
and what a test needs to drive it (busctl) and look at it (/proc, init's log)."""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cgroup_cleanup import remove_manager_cgroups
from procwait import proc_children, wait_until

REPO = Path(__file__).resolve().parents[2]
INIT = [sys.executable, "-m", "sysmasterd.init.main"]
CORE_MODULE = "sysmasterd.core.main"
DEST = "org.freedesktop.systemd1"
MANAGER_PATH = "/org/freedesktop/systemd1"
MANAGER_IFACE = "org.freedesktop.systemd1.Manager"






def cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def proc_state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return ""
    return data[data.rfind(b")") + 2:data.rfind(b")") + 3].decode()


def unit_path(name: str) -> str:
    return MANAGER_PATH + "/unit/" + "".join(
        c if c.isalnum() and c.isascii() else f"_{ord(c):02x}" for c in name)


@dataclass
class Namespace:
    """Everything one test runs: start() it, use it, and stop() always (the fixture does)."""

    units: dict[str, str]
    init_conf: dict[str, Any] = field(default_factory=dict)
    boot_unit: str = "boot.target"
    tmp: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="smr-", dir="/tmp")))
    proc: subprocess.Popen[bytes] | None = None
    bus_pid: int = 0
    address: str = ""
    init_pid: int = 0

    @property
    def run(self) -> Path:
        return self.tmp / "run"

    @property
    def log(self) -> Path:
        return self.tmp / "log"

    def start(self) -> None:
        unit_dir = self.tmp / "units"
        unit_dir.mkdir()
        self.run.mkdir()
        for name, text in self.units.items():
            (unit_dir / name).write_text(text.replace("@RUN@", str(self.run)))
        bus = subprocess.run(["dbus-daemon", "--session", "--fork", "--print-address=1", "--print-pid=1",
                              f"--address=unix:path={self.tmp}/bus"], capture_output=True, text=True, check=True)
        self.address, pid = bus.stdout.split()[:2]
        self.bus_pid = int(pid)
        conf = {"binary": sys.executable, "heartbeat_interval": 0.5, "heartbeat_misses": 4, "start_timeout": 20,
                "restart_tries": 1000, "restart_backoff": 0.05, "restart_backoff_max": 0.2, "shutdown_timeout": 10,
                "kill_timeout": 2, **self.init_conf}
        (self.tmp / "init.conf").write_text("".join(f"{k} = {v}\n" for k, v in conf.items()))
        # A system-scope core serves /run/systemd/private: a tmpfs of the namespace's own keeps it
        # off the host (the shell execs init, which stays PID 1).
        private_run = ["sh", "-c", 'mount --make-rprivate / && mount -t tmpfs tmpfs /run/systemd && exec "$@"', "sh"]
        argv = ["unshare", "--pid", "--fork", "--mount-proc", *private_run, *INIT,
                "--config", str(self.tmp / "init.conf"), "--", "-m", CORE_MODULE, "--system",
                "--unit-path", str(unit_dir), "--runtime-dir", str(self.run),
                "--bus-address", self.address, "--unit", self.boot_unit]
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                         env={**os.environ, "PYTHONPATH": str(REPO)})
        self.init_pid = wait_until(lambda: proc_children(self.proc.pid) if self.proc else [], 10, "init")[0]
        self.wait_ready()

    def stop(self) -> None:
        try:
            if self.proc is not None and self.proc.poll() is None:
                if self.init_pid:
                    with contextlib.suppress(OSError):
                        os.kill(self.init_pid, signal.SIGKILL)  # the namespace goes with its PID 1
                self.proc.kill()
                self.proc.wait(10)
            if self.bus_pid:
                with contextlib.suppress(OSError):
                    os.kill(self.bus_pid, signal.SIGTERM)
        finally:
            self._remove_cgroups()
            if os.environ.get("SMR_KEEP"):
                print(f"kept {self.tmp}")
            else:
                shutil.rmtree(self.tmp, ignore_errors=True)

    def _remove_cgroups(self) -> None:
        # The namespace's processes are still dying right after its PID 1 was killed: a cgroup
        # can only go once it is empty, which remove_manager_cgroups() waits for.
        remove_manager_cgroups(self.run)

    # -- processes ------------------------------------------------------------------------------

    def inside(self) -> list[str]:
        """The prefix that runs a command in the namespace (its mounts and PIDs, as its init sees them)."""
        return ["nsenter", "-t", str(self.init_pid), "-m", "-p", "--"]

    def core_pid(self) -> int:
        cores = [p for p in proc_children(self.init_pid) if CORE_MODULE in cmdline(p) and proc_state(p) not in "Z"]
        return cores[0] if cores else 0

    def namespace_pids(self) -> list[int]:
        """Every process of the namespace (init's descendants), from the host's view."""
        out, todo = [], [self.init_pid]
        while todo:
            p = todo.pop()
            out.append(p)
            todo += proc_children(p)
        return out

    def sleepers(self, token: str) -> list[int]:
        """The live `sleep TOKEN` processes: every service here runs exactly one while up."""
        return [p for p in self.namespace_pids()
                if (c := cmdline(p)) and os.path.basename(c[0]) == "sleep" and c[-1] == token
                and proc_state(p) != "Z"]

    def host_pid(self, ns_pid: int) -> int:
        """The host's PID of a process the core names (MainPID is in the namespace's numbering)."""
        for p in self.namespace_pids():
            with contextlib.suppress(OSError), open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("NSpid:") and line.split()[-1] == str(ns_pid):
                        return p
        return 0

    def zombies(self) -> list[int]:
        return [p for p in self.namespace_pids() if proc_state(p) == "Z"]

    def wait_ready(self, old_core: int = 0, timeout: float = 20) -> int:
        """Wait for a core other than ``old_core`` that answers on the bus; returns its PID."""
        core = wait_until(lambda: (c := self.core_pid()) and c != old_core and c, timeout, "a new core")
        wait_until(lambda: self.call("GetUnit", "s", self.boot_unit, timeout=2) is not None, timeout,
                   "the core on the bus")
        return int(core)

    def kill_core(self, signo: int = signal.SIGKILL) -> int:
        core = self.core_pid()
        assert core, "no core to kill"
        os.kill(core, signo)
        return core

    # -- the bus --------------------------------------------------------------------------------

    def busctl(self, *args: str, timeout: float = 5) -> Any:
        """busctl --json; None when the call failed (no core on the bus, core died mid-call)."""
        r = subprocess.run(["busctl", f"--address={self.address}", "--json=short", f"--timeout={timeout}", *args],
                           capture_output=True, text=True, timeout=timeout + 5)
        if r.returncode != 0:
            return None
        return json.loads(r.stdout) if r.stdout.strip() else {}

    def call(self, method: str, signature: str = "", *args: str, timeout: float = 5) -> Any:
        return self.busctl("call", DEST, MANAGER_PATH, MANAGER_IFACE, method, *([signature, *args] if signature
                                                                                 else []), timeout=timeout)

    def prop(self, unit: str, iface: str, name: str) -> Any:
        got = self.busctl("get-property", DEST, unit_path(unit), f"org.freedesktop.systemd1.{iface}", name)
        return None if got is None else got["data"]

    def units_table(self) -> dict[str, tuple[str, str, int]]:
        """name -> (active state, sub state, job id) from ListUnits."""
        got = self.call("ListUnits")
        assert got is not None, "ListUnits failed"
        return {row[0]: (row[3], row[4], row[7]) for row in got["data"][0]}

    def settle(self, timeout: float = 20) -> dict[str, tuple[str, str, int]]:
        """Wait until no job is queued; returns the unit table then."""
        def idle() -> dict[str, tuple[str, str, int]] | None:
            got = self.call("ListJobs")
            if got is None or got["data"][0]:
                return None
            return self.units_table()
        return dict(wait_until(idle, timeout, "the job queue to drain"))


@contextlib.contextmanager
def namespace(units: dict[str, str], **kw: Any) -> Iterator[Namespace]:
    ns = Namespace(units, **kw)
    try:
        ns.start()
        yield ns
    finally:
        ns.stop()


class Churn:
    """A client that keeps starting, stopping and restarting units, retrying a call that failed
    (core killed) until it is answered, so the last answered job per unit is known."""

    def __init__(self, ns: Namespace, names: list[str], seed: int = 1) -> None:
        self.ns = ns
        self.names = names
        self.rng = random.Random(seed)
        self.last: dict[str, str] = {}
        self.answered = 0
        self.retried = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Churn:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(60)

    def _run(self) -> None:
        methods = {"start": "StartUnit", "stop": "StopUnit", "restart": "RestartUnit"}
        while not self._stop.is_set():
            name = self.rng.choice(self.names)
            op = self.rng.choice(list(methods))
            while self.ns.call(methods[op], "ss", name, "replace", timeout=3) is None:
                self.retried += 1
                time.sleep(0.05)
            self.last[name] = op
            self.answered += 1
            time.sleep(self.rng.uniform(0, 0.05))


NOTIFY_READY = ("/usr/bin/python3 -c \"import os,socket; s=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM); "
                "s.connect(os.environ['NOTIFY_SOCKET']); s.send(b'READY=1'); "
                "os.execv('/bin/sleep', ['sleep', '{token}'])\"")


def service(body: str, unit: str = "") -> str:
    return f"[Unit]\nDefaultDependencies=no\nStartLimitIntervalSec=0\n{unit}[Service]\n{body}\n"


def mixed_units() -> tuple[dict[str, str], dict[str, str]]:
    """Twenty services of mixed types; returns (unit files, token per unit). The token is a
    unique argument on the main process's command line, to count its processes."""
    units: dict[str, str] = {}
    tokens: dict[str, str] = {}
    for i in range(1, 21):
        token = f"{10000 + i}"
        if i <= 6:
            name, body = f"simple{i}.service", f"ExecStart=/bin/sleep {token}"
            if i > 3:
                body += "\nRestart=on-failure\nRestartSec=0.2"
        elif i <= 8:
            name, body = f"exec{i}.service", f"Type=exec\nExecStart=/bin/sleep {token}"
        elif i <= 11:
            name, body = f"notify{i}.service", "Type=notify\nExecStart=" + NOTIFY_READY.format(token=token)
        elif i <= 14:
            name = f"forking{i}.service"
            body = (f"Type=forking\nPIDFile=@RUN@/{name}.pid\n"
                    f"ExecStart=/bin/sh -c '/bin/sleep {token} & echo $! > @RUN@/{name}.pid'")
        elif i <= 16:
            name, body = f"oneshot{i}.service", "Type=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true"
            token = ""
        elif i <= 18:
            token = f"1.{i}"  # runs 1.x s, then fails on purpose
            name, body = f"crash{i}.service", f"ExecStart=/bin/sh -c 'sleep {token}; exit 3'\n" \
                                              "Restart=on-failure\nRestartSec=0.2"
        else:
            token = f"1.{i}"
            name, body = f"always{i}.service", f"ExecStart=/bin/sh -c 'sleep {token}; exit 0'\n" \
                                               "Restart=always\nRestartSec=0.2"
        units[name] = service(body)
        tokens[name] = token
    units["boot.target"] = "[Unit]\nDefaultDependencies=no\nWants=" + " ".join(
        n for n in units if n.startswith(("crash", "always", "simple"))) + "\n"
    return units, tokens


# The client's share of mixed_units(); the crashers and always-restarters are left to Restart=.
MANAGED_UNITS = [f"simple{i}.service" for i in range(1, 7)] + ["exec7.service", "exec8.service"] + \
    [f"notify{i}.service" for i in (9, 10, 11)] + [f"forking{i}.service" for i in (12, 13, 14)] + \
    ["oneshot15.service", "oneshot16.service"]
RESTARTERS = ["crash17.service", "crash18.service", "always19.service", "always20.service"]


def _expected_active(churn: Churn, name: str) -> bool:
    last = churn.last.get(name)
    if last is None:
        return name.startswith("simple")  # pulled in by boot.target
    return last in ("start", "restart")


def mismatches(ns: Namespace, churn: Churn, tokens: dict[str, str], names: list[str]) -> list[str]:
    """What differs from: each unit as its last answered job left it, one process per running
    service (and MainPID pointing at it), the restarters kept up by Restart=."""
    table = ns.units_table()
    bad = []
    for name in names:
        state = table.get(name, ("inactive", "dead", 0))
        want = "active" if _expected_active(churn, name) else "inactive"
        if state[0] != want or state[2]:
            bad.append(f"{name}: {state}, expected {want} after {churn.last.get(name)}")
        token = tokens[name]
        if token:
            running = ns.sleepers(token)
            if len(running) != (1 if want == "active" else 0):
                bad.append(f"{name}: processes {running}, expected {want}")
            elif running and int(ns.prop(name, "Service", "MainPID") or 0) == 0:
                bad.append(f"{name}: running {running} but MainPID=0")
    for name in RESTARTERS:
        state = table.get(name, ("inactive", "dead", 0))
        if state[0] not in ("active", "activating"):
            bad.append(f"{name}: {state}, Restart= should keep it up")
        if len(ns.sleepers(tokens[name])) > 1:
            bad.append(f"{name}: runs twice")
    return bad


def expect_consistent(ns: Namespace, churn: Churn, tokens: dict[str, str], names: list[str] | None = None) -> None:
    bad: list[str] = []

    def consistent() -> bool:
        bad[:] = mismatches(ns, churn, tokens, MANAGED_UNITS if names is None else names)
        return not bad
    try:
        wait_until(consistent, 15, "the services to match the last jobs")
    except AssertionError:
        raise AssertionError("\n".join(bad)) from None
