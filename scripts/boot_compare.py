#!/usr/bin/env python3
"""Boot this machine's own root twice in systemd-nspawn, under systemd and under sysmaster-init,
and print the units side by side (issue 12's acceptance tool; DESIGN.md §5).

    boot_compare.py [--json FILE|-] [--logs DIR] [--only systemd|sysmaster] [--no-ops] ...

How: the outer process starts an inner one in a private mount namespace (`unshare -m`). The
inner one makes every mount private, puts a tmpfs over /run (nspawn keeps its state in
/run/systemd/nspawn, which must not reach the host's /run), a tmpfs work dir in /tmp with `/`
bind-mounted in it, moves itself into a cgroup of its own (nspawn makes `payload`/`supervisor`
sub-cgroups; they must not be left in the host's tree), then boots, one after the other:

    systemd-nspawn -D ROOT --volatile=overlay --register=no --keep-unit --private-network \
        --console=read-only -b                                        # systemd
    systemd-nspawn ... --bind-ro=VENV [--bind-ro=CHECKOUT] VENV/bin/sysmaster-init -- --system

Each container is inspected with `nsenter -t <container PID 1> -a systemctl ...`, then
daemon-reload, restart of one service and daemon-reexec are checked for touching other units,
then `systemctl poweroff` must end the container. Every phase has a time limit; a poweroff that
does not end the container in time is reported as "hung" and the container is killed (SIGKILL to
its PID 1, which ends its PID namespace; then the nspawn process we started, by its PID).

The outer process checks afterwards that nothing is left: the work dir, the cgroups, the
processes it started. Writes go to nspawn's overlay (a tmpfs) and to our own tmpfs mounts.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

NSPAWN_COMMON = ["--volatile=overlay", "--register=no", "--keep-unit", "--private-network",
                 "--console=read-only"]
CLEAN_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
    "TERM": "dumb",
    "SYSTEMD_COLORS": "0",
    "SYSTEMD_PAGER": "cat",
    "SYSTEMD_URLIFY": "0",
}
# States of `is-system-running` that mean the boot is still going on (or nothing answers yet).
BOOTING = {"initializing", "starting", "offline", "unknown", ""}
# Services we would rather restart for the "restart touches nothing else" check, in this order.
RESTART_PREFERENCE = ("cron.service", "supervisor.service", "rsyslog.service", "ssh.service",
                      "postgresql.service")
NEVER_RESTART = ("dbus.service", "systemd-journald.service", "systemd-logind.service")
SHOW_PROPS = "Id,ActiveState,SubState,MainPID,InvocationID,ActiveEnterTimestampMonotonic"
COND_PROPS = "Id,ConditionResult,ConditionTimestampMonotonic,Result"
INNER_ENV = "BOOT_COMPARE_INNER"


# ---------------------------------------------------------------------------------------------
# results


@dataclass
class UnitState:
    load: str
    active: str
    sub: str

    def text(self) -> str:
        return f"{self.active}/{self.sub}"


@dataclass
class OpResult:
    op: str
    ok: bool | None = None          # None: not run
    seconds: float | None = None
    error: str = ""
    touched: list[str] = field(default_factory=list)   # other units whose state/PID/invocation changed
    retried: list[str] = field(default_factory=list)   # the same, for units that were failed/auto-restarting
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class BootResult:
    manager: str                     # "systemd" or "sysmaster"
    command: list[str] = field(default_factory=list)
    booted: bool = False             # container PID 1 came up and stayed up
    answers: bool = False            # systemctl list-units answered inside
    settled: bool = False            # is-system-running left the booting states and no jobs are queued
    settle_seconds: float | None = None   # nspawn start -> settled (wall clock, polled)
    system_state: str = ""
    analyze: str = ""                # first line of `systemd-analyze` (or its error)
    analyze_seconds: float | None = None  # userspace boot time parsed from it
    units: dict[str, UnitState] = field(default_factory=dict)
    failed_units: list[str] = field(default_factory=list)
    conditions: dict[str, dict[str, str]] = field(default_factory=dict)   # unit -> ConditionResult, Result, ...
    ops: list[OpResult] = field(default_factory=list)
    poweroff: str = ""               # "ok", "hung", "error", "not-run", "died-before"
    poweroff_seconds: float | None = None
    poweroff_left: list[str] = field(default_factory=list)   # processes alive in a hung container
    exit_status: int | None = None   # nspawn's exit status
    workarounds: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    log_tail: list[str] = field(default_factory=list)
    nspawn_pid: int | None = None
    container_pid: int | None = None


# ---------------------------------------------------------------------------------------------
# small helpers


def log(msg: str) -> None:
    print(f"boot-compare: {msg}", file=sys.stderr, flush=True)


def run(cmd: list[str], timeout: float, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Run a command with a time limit; (rc, stdout, stderr), rc 124 on timeout as timeout(1)."""
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                           env=env if env is not None else CLEAN_ENV, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        return 124, out, f"timed out after {timeout:g}s"
    except OSError as e:
        return 127, "", str(e)
    return p.returncode, p.stdout, p.stderr


def pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def children_of(pid: int) -> list[int]:
    kids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid:
            kids.append(int(entry))
    return sorted(kids)


def parse_seconds(text: str) -> float | None:
    """'1min 2.345s' / '850ms' / '2.487s' -> seconds."""
    total, found = 0.0, False
    for num, unit in re.findall(r"([\d.]+)(min|ms|us|s|h)\b", text):
        total += float(num) * {"h": 3600, "min": 60, "s": 1, "ms": 1e-3, "us": 1e-6}[unit]
        found = True
    return total if found else None


def parse_list_units(text: str) -> dict[str, UnitState]:
    units: dict[str, UnitState] = {}
    for line in text.splitlines():
        words = line.split()
        if words and words[0] in ("●", "*"):
            words = words[1:]
        if len(words) < 4:
            continue
        units[words[0]] = UnitState(load=words[1], active=words[2], sub=words[3])
    return units


def parse_show(text: str) -> dict[str, dict[str, str]]:
    """`systemctl show -p Id,...` of several units: blocks separated by blank lines."""
    out: dict[str, dict[str, str]] = {}
    for block in text.split("\n\n"):
        props = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        if props.get("Id"):
            out[props["Id"]] = props
    return out


# ---------------------------------------------------------------------------------------------
# the inner side: runs in the private mount namespace


class Cgroups:
    """A cgroup of our own in the hierarchies nspawn uses (cgroup2 and name=systemd), so that what
    nspawn and the containers create below it can be removed afterwards."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.origin: dict[Path, Path] = {}    # hierarchy mount -> our original cgroup dir
        self.absent: list[Path] = []  # parents nspawn may create for its mirror of our path

    @staticmethod
    def _mounts() -> dict[str, Path]:
        found: dict[str, Path] = {}
        with open("/proc/self/mountinfo") as f:
            for line in f:
                left, right = line.split(" - ", 1)
                mnt = Path(left.split()[4])
                fstype, _src, opts = right.split()[:3]
                if fstype == "cgroup2" and "unified" not in found:
                    found["unified"] = mnt
                elif fstype == "cgroup" and "name=systemd" in opts.split(","):
                    found["name=systemd"] = mnt
        return found

    def enter(self) -> list[str]:
        problems = []
        mounts = self._mounts()
        with open("/proc/self/cgroup") as f:
            lines = f.read().splitlines()
        unified = next((ln.split(":", 2)[2] for ln in lines if ln.startswith("0::")), "/")
        parents = [p for p in Path(unified).parents if p != Path("/")] + ([Path(unified)] if unified != "/" else [])
        self.absent = sorted((m / p.relative_to("/") for m in mounts.values() for p in parents
                              if not (m / p.relative_to("/")).exists()), key=lambda p: -len(p.parts))
        for line in lines:
            _hid, controllers, path = line.split(":", 2)
            key = "unified" if controllers == "" else controllers
            if key not in mounts:
                continue
            base = mounts[key] / path.lstrip("/")
            target = base / self.name
            try:
                target.mkdir()
                (target / "cgroup.procs").write_text(f"{os.getpid()}\n")
                self.origin[target] = base
            except OSError as e:
                problems.append(f"cgroup {target}: {e}")
        return problems

    @staticmethod
    def _all_mounts() -> list[Path]:
        with open("/proc/self/mountinfo") as f:
            return [Path(left.split()[4]) for left, right in (line.split(" - ", 1) for line in f)
                    if right.split()[0] in ("cgroup", "cgroup2")]

    def ours(self) -> list[Path]:
        """Every directory carrying our name in any hierarchy: those we made, and the ones
        systemd-nspawn makes on a hybrid host, where it mirrors our cgroup2 path into name=systemd
        (`<our cgroup2 path>` there, not `<our name=systemd path>/<name>`)."""
        found = []
        for mnt in self._all_mounts():
            for top, dirs, _files in os.walk(mnt):
                if self.name in dirs:
                    dirs.remove(self.name)  # nothing of ours nests inside another of ours
                    found.append(Path(top) / self.name)
        return found

    def leave(self, deadline: float) -> list[str]:
        """Move back, then remove everything of ours, deepest first (processes take a moment to
        leave a cgroup, so retry until the deadline); the ones that would not go are returned."""
        for base in self.origin.values():
            with contextlib.suppress(OSError):
                (base / "cgroup.procs").write_text(f"{os.getpid()}\n")
        while True:
            targets = self.ours()
            for target in targets:
                # bottom-up; a directory vanishing under the walk (a container's manager removing
                # its own cgroups) is not an error
                for top, dirs, _files in os.walk(target, topdown=False):
                    for d in [*dirs, None]:
                        with contextlib.suppress(OSError):
                            os.rmdir(os.path.join(top, d) if d else top)
            left = [str(t) for t in self.ours()]
            if not left or time.monotonic() > deadline:
                for parent in self.absent:
                    with contextlib.suppress(OSError):
                        parent.rmdir()
                return left
            time.sleep(0.2)


class Inner:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.work: Path | None = None
        self.root: Path | None = None
        self.mounts: list[Path] = []          # to unmount, last first
        self.cgroups = Cgroups(f"boot-compare.{os.getpid()}")
        self.procs: list[subprocess.Popen[bytes]] = []
        self.notes: list[str] = []

    # -- set-up and clean-up ------------------------------------------------------------------

    def _mount(self, *argv: str) -> None:
        rc, _out, err = run(["mount", *argv], timeout=15, env=dict(os.environ))
        if rc != 0:
            raise RuntimeError(f"mount {' '.join(argv)}: {err.strip()}")

    def setup(self) -> None:
        self._mount("--make-rprivate", "/")
        self._mount("-t", "tmpfs", "-o", "mode=0755", "boot-compare-run", "/run")
        self.mounts.append(Path("/run"))
        self.work = Path(self.args.work_dir)
        self._mount("-t", "tmpfs", "-o", "mode=0700", "boot-compare", str(self.work))
        self.mounts.append(self.work)
        self.root = self.work / "root"
        self.root.mkdir()
        self._mount("--bind", "/", str(self.root))
        self.mounts.append(self.root)
        self.notes += self.cgroups.enter()

    def stop_container(self, b: BootResult, proc: subprocess.Popen[bytes]) -> None:
        """End a container we started: SIGKILL its PID 1 (ends the PID namespace), then nspawn."""
        if proc.poll() is not None:
            return
        for pid in children_of(proc.pid):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                b.errors.append(f"nspawn (pid {proc.pid}) did not die after SIGKILL")

    def cleanup(self) -> list[str]:
        left = []
        for proc in self.procs:
            if proc.poll() is None:
                self.stop_container(BootResult("cleanup"), proc)
            if proc.poll() is None:
                left.append(f"process {proc.pid} still running")
        for mnt in reversed(self.mounts):
            rc, _out, err = run(["umount", str(mnt)], timeout=15, env=dict(os.environ))
            if rc != 0:
                rc, _out, err = run(["umount", "-l", str(mnt)], timeout=15, env=dict(os.environ))
                if rc != 0:
                    left.append(f"mount {mnt}: {err.strip()}")
        self.mounts.clear()
        left += self.cgroups.leave(time.monotonic() + 10)
        return left

    # -- talking to a container ----------------------------------------------------------------

    def ns(self, pid: int, *cmd: str, timeout: float | None = None) -> tuple[int, str, str]:
        return run(["nsenter", "-t", str(pid), "-a", *cmd], timeout=timeout or self.args.command_timeout)

    def system_state(self, pid: int) -> str:
        _rc, out, _err = self.ns(pid, "systemctl", "is-system-running", timeout=5)
        return out.strip()

    def jobs_pending(self, pid: int) -> bool:
        rc, out, _err = self.ns(pid, "systemctl", "list-jobs", "--no-legend", "--plain", timeout=5)
        return rc != 0 or bool(out.strip())

    def snapshot(self, pid: int) -> dict[str, dict[str, str]]:
        """Every loaded unit's state, and for services their main PID and invocation."""
        rc, out, _err = self.ns(pid, "systemctl", "list-units", "--all", "--plain", "--no-legend", "--no-pager")
        units = parse_list_units(out) if rc == 0 else {}
        snap = {name: {"ActiveState": u.active, "SubState": u.sub} for name, u in units.items()}
        services = [n for n, u in units.items() if n.endswith(".service") and u.active != "inactive"]
        for i in range(0, len(services), 50):
            rc, out, _err = self.ns(pid, "systemctl", "show", "-p", SHOW_PROPS, *services[i:i + 50])
            for name, props in parse_show(out).items():
                snap.setdefault(name, {}).update(props)
        return snap

    @staticmethod
    def diff(before: dict[str, dict[str, str]], after: dict[str, dict[str, str]], skip: set[str]) -> list[str]:
        touched = []
        for name in sorted(set(before) | set(after)):
            if name in skip:
                continue
            a, b = before.get(name, {}), after.get(name, {})
            if a.get("ActiveState", "inactive") == "inactive" and b.get("ActiveState", "inactive") == "inactive":
                continue          # loaded or unloaded while inactive: not touched
            changes = [f"{k} {a.get(k, '-')}->{b.get(k, '-')}" for k in
                       ("ActiveState", "SubState", "MainPID", "InvocationID", "ActiveEnterTimestampMonotonic")
                       if a.get(k) != b.get(k) and not (k not in a and k not in b)]
            if changes:
                touched.append(f"{name}: {', '.join(changes)}")
        return touched

    def conditions(self, pid: int, names: list[str]) -> dict[str, dict[str, str]]:
        found: dict[str, dict[str, str]] = {}
        for i in range(0, len(names), 50):
            _rc, out, _err = self.ns(pid, "systemctl", "show", "-p", COND_PROPS, *names[i:i + 50])
            for name, props in parse_show(out).items():
                found[name] = {k: v for k, v in props.items() if k != "Id"}
        return found

    def wait_settled(self, pid: int, deadline: float) -> str:
        state = ""
        while time.monotonic() < deadline:
            state = self.system_state(pid)
            if state not in BOOTING and not self.jobs_pending(pid):
                return state
            time.sleep(0.3)
        return state

    def record_pid(self, pid: int) -> None:
        with open(self.args.pid_file, "a") as f:
            f.write(f"{pid}\n")

    # -- one boot --------------------------------------------------------------------------------

    def nspawn_command(self, manager: str) -> list[str]:
        assert self.root is not None
        cmd = ["systemd-nspawn", "-D", str(self.root), *NSPAWN_COMMON]
        if manager == "systemd":
            return [*cmd, "-b"]
        for path in dict.fromkeys(self.args.bind):
            cmd.append(f"--bind-ro={path}")
        return [*cmd, str(Path(self.args.venv) / "bin" / "sysmaster-init"), "--", "--system"]

    def boot(self, manager: str) -> BootResult:
        b = BootResult(manager)
        b.command = self.nspawn_command(manager)
        assert self.work is not None
        logfile = self.work / f"{manager}.log"
        log(f"booting under {manager}")
        with open(logfile, "wb") as out:
            t0 = time.monotonic()
            proc = subprocess.Popen(b.command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                    env=CLEAN_ENV, start_new_session=True)
        self.procs.append(proc)
        b.nspawn_pid = proc.pid
        self.record_pid(proc.pid)
        try:
            self._boot_phases(b, proc, t0)
        finally:
            if proc.poll() is None:
                self.stop_container(b, proc)
            b.exit_status = proc.returncode
            tail = logfile.read_bytes().decode(errors="replace").splitlines()
            b.log_tail = tail[-self.args.log_lines:]
            if self.args.logs:
                Path(self.args.logs).mkdir(parents=True, exist_ok=True)
                shutil.copy(logfile, Path(self.args.logs) / f"{manager}.log")
        return b

    def _boot_phases(self, b: BootResult, proc: subprocess.Popen[bytes], t0: float) -> None:
        deadline = t0 + self.args.boot_timeout
        # the container's PID 1 is nspawn's child
        pid = None
        while time.monotonic() < deadline and proc.poll() is None:
            kids = children_of(proc.pid)
            if kids:
                pid = kids[0]
                break
            time.sleep(0.05)
        if pid is None:
            b.errors.append("container did not start" if proc.poll() is None else
                            f"nspawn exited with {proc.returncode} before the container started")
            b.poweroff = "died-before"
            return
        b.container_pid = pid
        self.record_pid(pid)
        b.booted = True

        # Wait for the manager's private socket (any systemctl needs it, or the bus).
        croot = Path(f"/proc/{pid}/root")
        private_seen: float | None = None
        while time.monotonic() < deadline and proc.poll() is None:
            if (croot / "run/systemd/system").is_dir() and (croot / "run/systemd/private").exists():
                break
            if (croot / "run/systemd/private").exists():
                private_seen = private_seen or time.monotonic()
                if time.monotonic() - private_seen > self.args.marker_grace:
                    # sd_booted(): systemctl refuses to talk to a system manager unless
                    # /run/systemd/system exists. systemd makes it at start; ours does not yet.
                    rc, _o, err = self.ns(pid, "mkdir", "-p", "/run/systemd/system")
                    b.workarounds.append(
                        "created /run/systemd/system inside the container (the sd_booted() marker "
                        f"systemctl checks): {b.manager} had not made it {self.args.marker_grace:g}s "
                        "after its private socket appeared" + ("" if rc == 0 else f" (failed: {err.strip()})"))
                    break
            time.sleep(0.1)
        if proc.poll() is not None:
            b.booted = False
            b.errors.append(f"container ended during boot (nspawn status {proc.returncode})")
            b.poweroff = "died-before"
            return

        state = self.wait_settled(pid, deadline)
        b.system_state = state
        if state not in BOOTING:
            b.settled = True
            b.settle_seconds = round(time.monotonic() - t0, 3)
        else:
            b.errors.append(f"not settled after {self.args.boot_timeout:g}s (is-system-running: {state!r})")

        rc, out, err = self.ns(pid, "systemctl", "list-units", "--all", "--plain", "--no-legend", "--no-pager")
        if rc == 0 and out.strip():
            b.answers = True
            b.units = parse_list_units(out)
            b.failed_units = sorted(n for n, u in b.units.items() if u.active == "failed")
            b.conditions = self.conditions(pid, sorted(b.units))
        else:
            b.errors.append(f"systemctl list-units: rc={rc} {err.strip()[:300]}")

        rc, out, err = self.ns(pid, "systemd-analyze", "time", "--no-pager")
        text = (out.strip() or err.strip()).splitlines()
        b.analyze = " ".join(line.strip() for line in text[:2])[:300] if text else f"rc={rc}"
        m = re.search(r"Startup finished in (.*?)(?:\(userspace\)|$)", b.analyze)
        if rc == 0 and m:
            b.analyze_seconds = parse_seconds(m.group(1).split("=")[-1])

        if b.answers and not self.args.no_ops:
            b.ops = self.ops(pid, b)
        self.poweroff(b, proc, pid)

    def choose_service(self, b: BootResult) -> str | None:
        running = [n for n, u in b.units.items() if n.endswith(".service") and u.sub == "running"
                   and n not in NEVER_RESTART and "@" not in n]
        for name in (*self.args.restart_candidates, *RESTART_PREFERENCE):
            if name in running:
                return name
        return running[0] if running else None

    def ops(self, pid: int, b: BootResult) -> list[OpResult]:
        results = []
        service = self.choose_service(b)
        plan: list[tuple[str, list[str], set[str]]] = [("daemon-reload", ["daemon-reload"], set())]
        if service:
            plan.append((f"restart {service}", ["restart", service], {service}))
        else:
            results.append(OpResult("restart", error="no running service to restart"))
        plan.append(("daemon-reexec", ["daemon-reexec"], set()))
        for name, verb, skip in plan:
            r = OpResult(name)
            log(f"{b.manager}: {name}")
            # units that change on their own (restart loops) are not blamed on the op
            first = self.snapshot(pid)
            time.sleep(self.args.baseline)
            before = self.snapshot(pid)
            unstable = {line.split(":", 1)[0] for line in self.diff(first, before, skip)}
            t = time.monotonic()
            rc, _out, err = self.ns(pid, "systemctl", *verb, timeout=self.args.op_timeout)
            r.seconds = round(time.monotonic() - t, 3)
            if rc != 0:
                r.ok, r.error = False, f"rc={rc} {err.strip()[:300]}"
            # after a re-exec the manager needs a moment before it answers again
            settle_deadline = time.monotonic() + self.args.op_timeout
            state = self.wait_settled(pid, settle_deadline)
            after = self.snapshot(pid)
            changed = self.diff(before, after, skip | unstable)
            # a failed unit pulled in again by the op's transaction (restart pulls in the service's
            # Wants=/Requires= as start jobs) is the failure's consequence, not the op's
            failing = {n for n, p in before.items() if p.get("ActiveState") == "failed"
                       or p.get("SubState") == "auto-restart"}
            r.touched = [t for t in changed if t.split(":", 1)[0] not in failing]
            r.retried = [t for t in changed if t.split(":", 1)[0] in failing]
            r.detail = {"state_after": state, "units_before": len(before), "units_after": len(after),
                        "unstable": sorted(unstable)}
            if not after:
                r.ok, r.error = False, (r.error + " no answer afterwards").strip()
            if r.ok is None:
                r.ok = not r.touched
            if skip:
                svc = next(iter(skip))
                r.detail["service"] = {k: (before.get(svc, {}).get(k), after.get(svc, {}).get(k))
                                       for k in ("SubState", "MainPID", "InvocationID")}
            results.append(r)
        return results

    def poweroff(self, b: BootResult, proc: subprocess.Popen[bytes], pid: int) -> None:
        if proc.poll() is not None:
            b.poweroff = "died-before"
            return
        log(f"{b.manager}: poweroff")
        t0 = time.monotonic()
        deadline = t0 + self.args.poweroff_timeout
        # systemctl itself may block (it waits for the job): give it the same limit, in the background
        ctl = subprocess.Popen(["nsenter", "-t", str(pid), "-a", "systemctl", "poweroff"], env=CLEAN_ENV,
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            b.poweroff = "ok"
            b.poweroff_seconds = round(time.monotonic() - t0, 3)
        except subprocess.TimeoutExpired:
            b.poweroff = "hung"
            _rc, out, _err = self.ns(pid, "ps", "-eo", "pid,stat,args", "--no-headers", timeout=5)
            b.poweroff_left = [" ".join(line.split()) for line in out.splitlines()
                               if line.strip() and " ps -eo " not in line][:30]
            self.stop_container(b, proc)
        try:
            ctl_out, _ = ctl.communicate(timeout=2)
            ctl_text = ctl_out.decode(errors="replace").strip()
            if ctl.returncode not in (0, None) and b.poweroff != "ok":
                b.errors.append(f"systemctl poweroff: rc={ctl.returncode} {ctl_text[:300]}")
        except subprocess.TimeoutExpired:
            ctl.kill()
            ctl.wait()

    def main(self) -> int:
        result: dict[str, Any] = {"boots": {}, "inner_errors": [], "inner_leftovers": []}
        stop = {"signal": 0}

        def on_signal(signum: int, _frame: object) -> None:
            stop["signal"] = signum
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        try:
            self.setup()
            for manager in self.args.managers:
                result["boots"][manager] = asdict(self.boot(manager))
                Path(self.args.result_file).write_text(json.dumps(result))
        except KeyboardInterrupt:
            result["inner_errors"].append(f"interrupted by signal {stop['signal']}")
        except Exception as e:
            result["inner_errors"].append(f"{type(e).__name__}: {e}")
        finally:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            result["inner_leftovers"] = self.cleanup()
            result["notes"] = self.notes
            Path(self.args.result_file).write_text(json.dumps(result))
        return 0


# ---------------------------------------------------------------------------------------------
# comparing


def compare(sd: dict[str, UnitState], sm: dict[str, UnitState], sd_extra: dict[str, dict[str, str]]
            ) -> tuple[list[dict[str, str]], dict[str, Any]]:
    """Rows for every unit active or failed under either manager, and the counts."""
    rows = []
    absent = UnitState("-", "-", "-")
    for name in sorted(set(sd) | set(sm)):
        a, b = sd.get(name), sm.get(name)
        a_act = a is not None and a.active in ("active", "reloading")
        b_act = b is not None and b.active in ("active", "reloading")
        a_fail = a is not None and a.active == "failed"
        b_fail = b is not None and b.active == "failed"
        if not (a_act or b_act or a_fail or b_fail):
            continue
        if a_act and b_act:
            verdict = "same" if a.sub == b.sub else "sub differs"  # type: ignore[union-attr]
        elif a_act:
            verdict = "not active" if b is not None else "not loaded"
        elif b_act:
            cond = sd_extra.get(name, {})
            if cond.get("ConditionResult") == "no":
                verdict = "ran, systemd skipped (condition)"
            elif a is None or cond.get("ConditionTimestampMonotonic", "0") == "0":
                verdict = "ran, systemd did not start it"
            else:
                verdict = "ran, inactive under systemd"
        else:
            verdict = "failed both" if (a_fail and b_fail) else ("failed under systemd" if a_fail
                                                                else "failed under sysmaster")
        rows.append({"unit": name, "systemd": (a or absent).text() if a else "-",
                     "sysmaster": (b or absent).text() if b else "-", "verdict": verdict})
    sd_active = [r for r in rows if r["systemd"].split("/")[0] in ("active", "reloading")]
    counts = {
        "systemd_active": len(sd_active),
        "same": sum(r["verdict"] == "same" for r in rows),
        "sub_differs": sum(r["verdict"] == "sub differs" for r in rows),
        "not_active_under_sysmaster": sum(r["verdict"] in ("not active", "not loaded") for r in rows),
        "sysmaster_active": sum(r["sysmaster"].split("/")[0] in ("active", "reloading") for r in rows),
        "ran_but_systemd_skipped": sum(r["verdict"].startswith("ran,") for r in rows),
        "failed_under_systemd": sum(r["systemd"].startswith("failed") for r in rows),
        "failed_under_sysmaster": sum(r["sysmaster"].startswith("failed") for r in rows),
    }
    return rows, counts


def group_differences(rows: list[dict[str, str]]) -> dict[str, list[str]]:
    """Differing units by verdict and unit type: a first guess at the cause."""
    groups: dict[str, list[str]] = {}
    for r in rows:
        if r["verdict"] == "same":
            continue
        kind = r["unit"].rsplit(".", 1)[-1]
        groups.setdefault(f"{r['verdict']}: .{kind}", []).append(r["unit"])
    return dict(sorted(groups.items()))


def harness_mounts(binds: list[str]) -> frozenset[str]:
    """The mount units of the paths the harness binds into our container only (the venv, the
    checkout): systemd's container has no such mounts, so they are no difference."""
    from compat.unitname import from_path

    return frozenset(n for n in (from_path(os.path.normpath(b), "mount") for b in binds) if n)


def build_report(inner: dict[str, Any], leftovers: list[str], started: float,
                 ignore: frozenset[str] = frozenset()) -> dict[str, Any]:
    boots = {k: BootResult(**{**v, "units": {n: UnitState(**u) for n, u in v["units"].items()},
                              "ops": [OpResult(**o) for o in v["ops"]]})
             for k, v in inner.get("boots", {}).items()}
    report: dict[str, Any] = {
        "boots": {k: asdict(v) for k, v in boots.items()},
        "errors": inner.get("inner_errors", []),
        "notes": inner.get("notes", []),
        "cleanup": {"ok": not leftovers, "leftovers": leftovers},
        "seconds": round(time.monotonic() - started, 1),
    }
    sd, sm = boots.get("systemd"), boots.get("sysmaster")
    if sd and sm and sd.answers and sm.answers:
        rows, counts = compare({n: u for n, u in sd.units.items() if n not in ignore},
                               {n: u for n, u in sm.units.items() if n not in ignore}, sd.conditions)
        counts["is_system_running"] = {"systemd": sd.system_state, "sysmaster": sm.system_state,
                                       "agree": sd.system_state == sm.system_state}
        report["table"] = rows
        report["counts"] = counts
        report["differences"] = group_differences(rows)
    return report


def fmt_secs(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}s"


def print_report(rep: dict[str, Any], out: Any) -> None:
    w = out.write
    boots = rep["boots"]
    if "table" in rep:
        rows = rep["table"]
        width = max([len(r["unit"]) for r in rows] + [4])
        w(f"{'unit':<{width}}  {'systemd':<22}  {'sysmaster':<22}  verdict\n")
        w(f"{'-' * width}  {'-' * 22}  {'-' * 22}  {'-' * 20}\n")
        for r in rows:
            w(f"{r['unit']:<{width}}  {r['systemd']:<22}  {r['sysmaster']:<22}  {r['verdict']}\n")
        c = rep["counts"]
        w("\n")
        w(f"active under systemd:                         {c['systemd_active']}\n")
        w(f"  of those active, same sub-state, sysmaster: {c['same']}\n")
        w(f"  active with another sub-state:              {c['sub_differs']}\n")
        w(f"  not active under sysmaster:                 {c['not_active_under_sysmaster']}\n")
        w(f"active under sysmaster:                       {c['sysmaster_active']}\n")
        w(f"ran under sysmaster, not under systemd:       {c['ran_but_systemd_skipped']}\n")
        w(f"failed units (systemd / sysmaster):           {c['failed_under_systemd']} / "
          f"{c['failed_under_sysmaster']}\n")
        isr = c["is_system_running"]
        w(f"is-system-running:                            {isr['systemd']} / {isr['sysmaster']}"
          f" ({'agree' if isr['agree'] else 'DIFFER'})\n")
    w("\n")
    for name, b in boots.items():
        w(f"[{name}] booted={b['booted']} answers={b['answers']} settled={b['settled']} "
          f"in {fmt_secs(b['settle_seconds'])} (wall, polled); state={b['system_state'] or '-'}\n")
        w(f"[{name}] systemd-analyze: {b['analyze'] or '-'}\n")
        extra = f" ({'; '.join(b['poweroff_left'][:6])})" if b["poweroff_left"] else ""
        w(f"[{name}] poweroff: {b['poweroff'] or '-'} {fmt_secs(b['poweroff_seconds'])}{extra}\n")
        for op in b["ops"]:
            touched = f" touched {len(op['touched'])}: {'; '.join(op['touched'][:8])}" if op["touched"] else ""
            if op["retried"]:
                touched += f" (failed units started again: {' '.join(t.split(':')[0] for t in op['retried'])})"
            unstable = op["detail"].get("unstable") or []
            unstable_txt = f" (changing on their own, not counted: {' '.join(unstable)})" if unstable else ""
            w(f"[{name}] {op['op']}: {'ok' if op['ok'] else 'NOT OK'} {fmt_secs(op['seconds'])}"
              f"{(' ' + op['error']) if op['error'] else ''}{touched}{unstable_txt}\n")
        for wa in b["workarounds"]:
            w(f"[{name}] workaround: {wa}\n")
        for e in b["errors"]:
            w(f"[{name}] error: {e}\n")
    if rep.get("differences"):
        w("\nunits that differ, by verdict and type:\n")
        for group, units in rep["differences"].items():
            w(f"  {group} ({len(units)}): {' '.join(units)}\n")
    for e in rep["errors"]:
        w(f"error: {e}\n")
    w(f"\ncleanup: {'ok' if rep['cleanup']['ok'] else 'LEFTOVERS ' + '; '.join(rep['cleanup']['leftovers'])}"
      f"; total {rep['seconds']}s\n")


# ---------------------------------------------------------------------------------------------
# the outer side


def find_install(venv: str | None) -> tuple[Path, list[str]]:
    """The venv to run from and what must be bind-mounted into the container for it to work."""
    if venv:
        v = Path(venv).resolve()
    else:
        v = Path(sys.prefix)
    if not (v / "bin" / "sysmaster-init").exists():
        raise SystemExit(f"boot-compare: no sysmaster-init in {v}/bin (use --venv)")
    binds = [str(v)]
    # an editable install: the package lives in the checkout, outside the venv
    py = v / "bin" / "python"
    rc, out, _err = run([str(py), "-c", "import importlib.util as u; print(u.find_spec('sysmasterd').origin)"],
                        timeout=30, env=dict(os.environ))
    if rc == 0 and out.strip():
        pkg = Path(out.strip()).resolve().parent.parent
        if v not in pkg.parents and pkg != v:
            binds.append(str(pkg))
    return v, binds


def outer(args: argparse.Namespace, argv: list[str]) -> int:
    started = time.monotonic()
    if os.geteuid() != 0:
        print("boot-compare: needs root (mount namespaces, systemd-nspawn)", file=sys.stderr)
        return 77
    for tool in ("systemd-nspawn", "nsenter", "unshare", "mount"):
        if not shutil.which(tool):
            print(f"boot-compare: {tool} is missing (apt-get install systemd-container util-linux)",
                  file=sys.stderr)
            return 77
    venv, binds = find_install(args.venv)
    tmp = Path(tempfile.mkdtemp(prefix="boot-compare."))
    work = tmp / "mnt"
    work.mkdir()
    result_file, pid_file = tmp / "result.json", tmp / "pids"
    result_file.write_text("{}")
    pid_file.write_text("")
    inner_argv = [*argv, "--venv", str(venv), "--work-dir", str(work), "--result-file", str(result_file),
                  "--pid-file", str(pid_file)]
    for b in binds:
        inner_argv += ["--bind", b]
    cmd = ["unshare", "-m", "--propagation", "private", sys.executable, os.path.abspath(__file__), *inner_argv]
    inner_proc = subprocess.Popen(cmd, env={**os.environ, INNER_ENV: "1"})
    leftovers: list[str] = []
    try:
        inner_proc.wait(timeout=args.total_timeout)
    except (subprocess.TimeoutExpired, KeyboardInterrupt):
        leftovers.append(f"inner run exceeded {args.total_timeout:g}s or was interrupted; stopped")
        inner_proc.terminate()
        try:
            inner_proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            inner_proc.kill()
            inner_proc.wait()
    try:
        inner = json.loads(result_file.read_text() or "{}")
    except ValueError:
        inner = {}
    # what we started must be gone
    for line in pid_file.read_text().split():
        pid = int(line)
        if pid_alive(pid):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
            leftovers.append(f"process {pid} was still alive (killed)")
    leftovers += inner.get("inner_leftovers", [])
    if work.is_mount():
        leftovers.append(f"{work} is still mounted")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
        if tmp.exists():
            leftovers.append(f"{tmp} not removed")
    leftovers += [f"cgroup {p}" for p in Cgroups(f"boot-compare.{inner_proc.pid}").ours()]
    rep = build_report(inner, leftovers, started, harness_mounts(binds))
    if args.json == "-":
        json.dump(rep, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        print_report(rep, sys.stdout)
        if args.json:
            Path(args.json).write_text(json.dumps(rep, indent=1) + "\n")
    return 0 if rep.get("table") is not None and not leftovers else 1


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", metavar="FILE", help="also write the report as JSON to FILE ('-': only JSON, to stdout)")
    p.add_argument("--logs", metavar="DIR", help="keep both containers' console logs in DIR")
    p.add_argument("--venv", metavar="DIR", help="venv with sysmaster-init (default: the running interpreter's)")
    p.add_argument("--only", choices=("systemd", "sysmaster"), help="boot only one of the two")
    p.add_argument("--no-ops", action="store_true", help="skip daemon-reload / restart / daemon-reexec")
    p.add_argument("--restart", dest="restart_candidates", action="append", default=[], metavar="UNIT",
                   help="service to restart in the ops check (first running one wins)")
    p.add_argument("--boot-timeout", type=float, default=60.0, help="seconds for a container to settle")
    p.add_argument("--poweroff-timeout", type=float, default=10.0, help="seconds before a poweroff is 'hung'")
    p.add_argument("--op-timeout", type=float, default=20.0, help="seconds for each of the ops")
    p.add_argument("--baseline", type=float, default=1.0,
                   help="seconds between two snapshots before each op: units changing meanwhile are unstable")
    p.add_argument("--command-timeout", type=float, default=15.0, help="seconds for each systemctl inside")
    p.add_argument("--marker-grace", type=float, default=2.0,
                   help="seconds the manager has to make /run/systemd/system before the harness does")
    p.add_argument("--total-timeout", type=float, default=600.0, help="seconds for everything")
    p.add_argument("--log-lines", type=int, default=40, help="console lines kept in the report")
    # internal, outer -> inner
    p.add_argument("--work-dir", help=argparse.SUPPRESS)
    p.add_argument("--result-file", help=argparse.SUPPRESS)
    p.add_argument("--pid-file", help=argparse.SUPPRESS)
    p.add_argument("--bind", action="append", default=[], help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.managers = [args.only] if args.only else ["systemd", "sysmaster"]
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if os.environ.get(INNER_ENV) == "1":
        return Inner(args).main()
    return outer(args, argv)


if __name__ == "__main__":
    sys.exit(main())
