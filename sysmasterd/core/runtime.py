"""The exec runtime: the processes of units (systemd's execute.c edges in manager.c/unit.c).

It spawns commands with the unit's environment and output, watches PIDs (SIGCHLD for children,
pidfds for the rest), hands exits and sd_notify messages to the unit's type, and answers what the
types ask of the cgroup tree."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import pwd
import signal
from typing import TYPE_CHECKING, Protocol

from compat.model import ExecCommand, ExecContext, ExecFlag, StdInput, StdOutput
from sysmasterd.core import credentials, ipc_clean, sandbox
from sysmasterd.core.cgroup import process_name, process_tree, send_signal
from sysmasterd.core.dynamic_user import DynamicUserError, DynamicUsers, is_private, user_name_for
from sysmasterd.core.execute import (
    PassedFds,
    SpawnRequest,
    StdioPlan,
    directory_settings,
    parse_report,
    read_environment_file,
    spawn,
)
from sysmasterd.core.idlepipe import IdlePipe
from sysmasterd.core.journal import open_stream, stream_environment
from sysmasterd.core.owner import owner_ids
from sysmasterd.core.sandbox import SandboxPaths
from sysmasterd.core.shared_ns import NamespaceStore

if TYPE_CHECKING:
    from collections.abc import Callable

    from sysmasterd.core.manager import Manager
    from sysmasterd.core.notify import NotifySocket
    from sysmasterd.core.unit import Unit


_JOURNALED = (StdOutput.JOURNAL, StdOutput.KMSG, StdOutput.SYSLOG, StdOutput.JOURNAL_AND_CONSOLE,
              StdOutput.KMSG_AND_CONSOLE, StdOutput.SYSLOG_AND_CONSOLE)


def _wait_status(found: os.waitid_result) -> int:
    """waitid()'s report as the status waitpid() would have given."""
    if found.si_code == os.CLD_EXITED:
        return (found.si_status & 0xFF) << 8
    return found.si_status | (0x80 if found.si_code == os.CLD_DUMPED else 0)


class FdHolder(Protocol):
    """Keeps named sets of fds for the next core (sysmaster-init does, see core/initlink.py)."""

    def take_fds(self, name: str) -> list[int]: ...

    def store_fds(self, name: str, fds: list[int]) -> None: ...

    def remove_fds(self, name: str) -> None: ...


class ExecRuntime:
    def __init__(self, manager: Manager) -> None:
        self.m = manager
        self.watched: dict[int, Unit] = {}
        self._pidfds: dict[int, int] = {}
        self.idle_pipe = IdlePipe(manager.loop)
        self.dynamic_users = DynamicUsers(os.path.join(manager.runtime_dir or "/run/systemd", "dynamic-uid"))
        self.notify_socket_path = os.path.join(manager.runtime_dir, "notify") if manager.runtime_dir else ""
        # Set by the init link: takes the exit of a PID that is not our child (init reaps it and
        # reports the real status later); False leaves it to the pidfd's "gone, status unknown".
        self.defer_foreign_exit: Callable[[int], bool] | None = None
        # Who keeps fds across a core restart (sysmaster-init through the init link), if anyone.
        self.fd_holder: FdHolder | None = None
        # PrivateTmp= directories by unit (JoinsNamespaceOf= units share one pair).
        self.private_tmp: dict[str, tuple[str, str]] = {}
        # PrivateNetwork=/PrivateIPC= namespaces by unit, shared the same way.
        self.namespaces = NamespaceStore(lambda: self.fd_holder)

    def adopt_namespaces(self) -> None:
        """After a core restart: the namespace stores of the units that want them."""
        wanted = []
        for u in self.m.units.values():
            ctx = u.config.exec if u.config is not None else None
            if ctx is not None:
                wanted += [(u.id, kind) for kind, on in (("net", ctx.private_network or ctx.network_namespace_path),
                                                         ("ipc", ctx.private_ipc or ctx.ipc_namespace_path)) if on]
        self.namespaces.adopt(wanted)

    def attach(self, notify: NotifySocket) -> None:
        from sysmasterd.core.fastspawn import mark_close_on_exec

        mark_close_on_exec()  # what we inherited must not reach the services
        loop = self.m.loop
        loop.add_reader(notify.fileno(), notify.receive, self._on_notify, self.m.flush_store)
        loop.add_signal_handler(signal.SIGCHLD, self._reap)
        # A burst of exits may fill asyncio's wakeup pipe; one wakeup is enough, since _reap()
        # collects every exited child, so the overflow is not worth a warning per signal.
        fd = signal.set_wakeup_fd(-1)
        signal.set_wakeup_fd(fd, warn_on_full_buffer=False)

    def detach(self, notify: NotifySocket | None) -> None:
        self.idle_pipe.release()
        loop = self.m.loop
        if notify is not None:
            loop.remove_reader(notify.fileno())
        for fd in self._pidfds.values():
            loop.remove_reader(fd)
            os.close(fd)
        self._pidfds.clear()
        try:
            loop.remove_signal_handler(signal.SIGCHLD)
        except (ValueError, RuntimeError):
            pass

    def spawn(self, u: Unit, cmd: ExecCommand, extra_env: dict[str, str], wait_exec: bool = False,
              idle: bool = False, passed: PassedFds | None = None, nonblocking: bool = False,
              chroot: bool = True) -> int | None:
        """Fork/exec a command of a unit; returns the PID, or None if it could not be forked.
        `idle`: the child waits before exec until no jobs are left (Type=idle). `passed`: socket
        activation's fds (LISTEN_FDS=, or stdin/stdout with StandardInput=socket). `chroot`
        False: RootDirectory= does not apply (RootDirectoryStartOnly='s control commands)."""
        assert u.config is not None
        ctx = u.config.exec
        if not chroot and ctx.root_directory:
            ctx = dataclasses.replace(ctx, root_directory=None)
        socket_stdio = StdInput.SOCKET in (ctx.standard_input,) or StdOutput.SOCKET in (ctx.standard_output,
                                                                                        ctx.standard_error)
        connection = -1
        listen: list[int] = []
        if passed is not None and passed.fds:
            extra_env = {**extra_env, **passed.environment}
            if socket_stdio:
                if len(passed.fds) > 1:
                    self.m.log.error("%s: Got more than one socket.", u.id)
                    return None
                connection = passed.fds[0]
                os.set_blocking(connection, True)  # inetd-style programs expect a blocking stdin
            else:
                listen = passed.fds
                extra_env = {**extra_env, "LISTEN_FDS": str(len(listen)), "LISTEN_FDNAMES": ":".join(passed.names)}
        elif socket_stdio:
            self.m.log.error("%s: Got no socket.", u.id)
            return None
        env = self._environment_for(u, extra_env)
        if self.m.state_export is not None:
            self.m.state_export.export(u)
        if ctx.dynamic_user:
            try:
                ctx = self._dynamic_credentials(u, ctx, env)
            except (OSError, DynamicUserError) as e:
                self.m.log.error("%s: %s", u.id, e)
                return None
        privileged = bool(cmd.flags & (ExecFlag.FULL_PRIVILEGES | ExecFlag.AMBIENT_PRIVILEGES))
        try:
            sandbox_paths = self._prepare_sandbox(u)
        except OSError as e:
            self.m.log.error("%s: Failed to set up the sandbox: %s", u.id, e)
            return None
        procs = self.m.cgroups.create(u.id) if self.m.cgroups is not None else None
        # systemd: with StandardInput=socket, output defaults to the same socket ("inherit").
        out_kind = ctx.standard_output or (StdOutput.INHERIT if connection >= 0 else
                                           self.m.settings.default_standard_output)
        capture = out_kind in (StdOutput.JOURNAL, StdOutput.KMSG, StdOutput.SYSLOG, StdOutput.JOURNAL_AND_CONSOLE,
                               StdOutput.KMSG_AND_CONSOLE, StdOutput.SYSLOG_AND_CONSOLE) or (
            ctx.standard_error in (StdOutput.JOURNAL, StdOutput.KMSG, StdOutput.SYSLOG))
        # Descriptors a client handed over (systemd-run --pipe) leave nothing to capture.
        passed_stdio = self.m.transient.stdio.get(u.id, {})
        capture = capture and not {1, 2} <= passed_stdio.keys()
        rfd = wfd = -1
        if capture:
            # Where a journald listens, the output goes to it; else to the manager's log.
            stream = open_stream(u, cmd, out_kind if out_kind in _JOURNALED else ctx.standard_error or out_kind)
            if stream is not None:
                wfd = stream
                env["JOURNAL_STREAM"] = stream_environment(stream)
            else:
                rfd, wfd = os.pipe2(os.O_CLOEXEC)
        stdio = StdioPlan(stdout_fd=wfd if out_kind not in (StdOutput.NULL,) and capture else None,
                          stderr_fd=wfd if capture else None, stdin_data=ctx.standard_input_data)
        if out_kind is StdOutput.INHERIT:
            stdio.stdout_fd = 1
        stdio.passed = passed_stdio
        if connection >= 0:
            if ctx.standard_input is StdInput.SOCKET:
                stdio.stdin_fd = connection
            if out_kind in (StdOutput.SOCKET, StdOutput.INHERIT):
                stdio.stdout_fd = connection
            if ctx.standard_error is StdOutput.SOCKET:
                stdio.stderr_fd = connection
        req = SpawnRequest(cmd, ctx, env, procs, stdio, apply_credentials=not privileged,
                           controller_procs=self.m.cgroups.controller_procs(u.id) if procs and self.m.cgroups else (),
                           listen_fds=listen, listen_nonblocking=nonblocking,
                           listen_storage=passed.n_storage if listen and passed is not None else 0,
                           runtime_dirs=self.directory_bases(),
                           default_directory="/" if self.m.is_system else self.m.settings.environ.get("HOME", "/"),
                           need_exec_report=wait_exec,
                           idle_fds=self.idle_pipe.for_child() if idle and self.m.engine.jobs else None,
                           limits={**self.m.settings.default_limits, **ctx.limits},
                           sandboxing=not cmd.flags & ExecFlag.FULL_PRIVILEGES, sandbox=sandbox_paths)
        try:
            spawned = spawn(req)
        except OSError as e:
            self.m.log.error("%s: Failed to fork: %s", u.id, e)
            for fd in (rfd, wfd):
                if fd >= 0:
                    os.close(fd)
            return None
        if wfd >= 0:
            os.close(wfd)
        if rfd >= 0:
            self._follow_output(u, spawned.pid, rfd)
        self.watched[spawned.pid] = u
        if spawned.error_fd >= 0:
            self.m.loop.add_reader(spawned.error_fd, self._read_spawn_report, u, spawned.pid, spawned.error_fd)
        self.m.log.debug("%s: spawned %s as %d", u.id, cmd.path, spawned.pid)
        return spawned.pid

    def _environment_for(self, u: Unit, extra: dict[str, str]) -> dict[str, str]:
        assert u.config is not None
        ctx = u.config.exec
        env = dict(self.m.environment)
        env["INVOCATION_ID"] = u.invocation_id.hex()
        if ctx.user:
            try:
                pw = pwd.getpwuid(int(ctx.user)) if ctx.user.isdigit() else pwd.getpwnam(ctx.user)
                env.update(USER=pw.pw_name, LOGNAME=pw.pw_name, HOME=pw.pw_dir, SHELL=pw.pw_shell)
            except (KeyError, ValueError):
                pass
        for kind, (paths, _mode) in _dir_settings(u).items():
            base = self.directory_bases().get(kind)
            if paths and base:
                env[f"{kind.upper()}_DIRECTORY"] = ":".join(os.path.join(base, p) for p in paths)
        if ctx.credentials and self.directory_bases().get("runtime"):
            env["CREDENTIALS_DIRECTORY"] = credentials.directory(self.directory_bases()["runtime"], u.id)
        env.update(extra)
        if ctx.exec_search_path:  # before PassEnvironment= and Environment=, which may set PATH again
            env["PATH"] = ":".join(ctx.exec_search_path)
        for name in ctx.pass_environment:
            if name in self.m.settings.environ:
                env[name] = self.m.settings.environ[name]
        env.update(ctx.environment)
        for ef in ctx.environment_files:
            try:
                for k, v in read_environment_file(ef.path):
                    env[k] = v
            except OSError as e:
                if not ef.optional:
                    self.m.log.error("%s: Failed to load environment files: %s", u.id, e)
        for name in ctx.unset_environment:
            if "=" in name:
                k, v = name.split("=", 1)
                if env.get(k) == v:
                    del env[k]
            else:
                env.pop(name, None)
        return env

    def _dynamic_credentials(self, u: Unit, ctx: ExecContext, env: dict[str, str]) -> ExecContext:
        """DynamicUser=: the unit's context with the allocated UID/GID as User=/Group=."""
        name = ctx.user or user_name_for(u.id.rpartition(".")[0].partition("@")[0])
        bases = self.directory_bases()
        suggested = [os.path.join(bases[kind], "private", d) for kind, (dirs, _mode) in _dir_settings(u).items()
                     if kind in ("state", "cache", "logs") and bases.get(kind) for d in dirs]
        uid, gid = self.dynamic_users.acquire(name, u.id, suggested)
        env.update(USER=name, LOGNAME=name)
        return dataclasses.replace(ctx, user=str(uid), group=str(gid))

    def _prepare_sandbox(self, u: Unit) -> SandboxPaths:
        """What must exist before the child builds its namespaces: PrivateTmp= directories (shared
        with a JoinsNamespaceOf= unit that has them), a staging dir; and how the child writes the
        credentials directory."""
        assert u.config is not None
        ctx = u.config.exec
        paths = SandboxPaths()
        bases = self.directory_bases()
        if ctx.credentials and bases.get("runtime"):
            pw_uid, pw_gid = owner_ids(ctx.user, ctx.group)
            paths.credentials = functools.partial(
                credentials.setup, bases["runtime"], u.id, ctx.credentials, pw_uid, pw_gid,
                store=self.m.settings.environ.get("CREDENTIALS_DIRECTORY"), may_mount=self.m.is_system)
        for kind, wanted in (("net", ctx.private_network or ctx.network_namespace_path),
                             ("ipc", ctx.private_ipc or ctx.ipc_namespace_path)):
            if wanted:
                paths.namespaces[kind] = self.namespaces.pair(u.id, kind, u.config.unit.joins_namespace_of)
        if not sandbox.needs_mount_namespace(ctx):
            return paths
        if ctx.private_tmp:
            dirs = self.private_tmp.get(u.id) or next(
                (self.private_tmp[o] for o in u.config.unit.joins_namespace_of if o in self.private_tmp), None)
            if dirs is None:
                dirs = sandbox.prepare_private_tmp(u.id)
            self.private_tmp[u.id] = dirs
            paths.tmp_dir, paths.var_tmp_dir = dirs
        if self.m.runtime_dir:
            paths.staging = os.path.join(self.m.runtime_dir, "sandbox")
            os.makedirs(paths.staging, mode=0o700, exist_ok=True)
        for kind, (dirs_, _mode) in _dir_settings(u).items():
            if kind != "configuration" and bases.get(kind):
                paths.writable += [os.path.join(bases[kind], d) for d in dirs_]
            if dirs_ and bases.get(kind) and is_private(ctx, kind):
                paths.private_roots.append(os.path.join(bases[kind], "private"))
                paths.private_dirs += [os.path.join(bases[kind], "private", d) for d in dirs_]
        return paths

    def directory_bases(self) -> dict[str, str]:
        if self.m.is_system:
            return {"runtime": "/run", "state": "/var/lib", "cache": "/var/cache", "logs": "/var/log",
                    "configuration": "/etc"}
        home = self.m.settings.environ.get("HOME") or os.path.expanduser("~")
        config = self.m.settings.environ.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
        return {"runtime": self.m.settings.environ.get("XDG_RUNTIME_DIR", ""),
                "state": config,
                "cache": self.m.settings.environ.get("XDG_CACHE_HOME") or os.path.join(home, ".cache"),
                "logs": os.path.join(config, "log"), "configuration": config}

    def _follow_output(self, u: Unit, pid: int, fd: int) -> None:
        os.set_blocking(fd, False)
        buf = bytearray()
        ident = (u.config.exec.syslog_identifier if u.config else None) or None

        def on_readable() -> None:
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                return
            except OSError:
                chunk = b""
            if chunk:
                buf.extend(chunk)
                while b"\n" in buf:
                    line, _, rest = bytes(buf).partition(b"\n")
                    buf[:] = rest
                    self._unit_output(u, ident, pid, line)
                if len(buf) > 8192:
                    self._unit_output(u, ident, pid, bytes(buf))
                    buf.clear()
                return
            if buf:
                self._unit_output(u, ident, pid, bytes(buf))
            self.m.loop.remove_reader(fd)
            os.close(fd)

        self.m.loop.add_reader(fd, on_readable)

    def _unit_output(self, u: Unit, ident: str | None, pid: int, line: bytes) -> None:
        text = line.decode("utf-8", "replace").rstrip("\r")
        name = ident or process_name(pid) or u.id
        u.log(f"{name}[{pid}]: {text}")
        self.m.log.info("%s[%d]: %s", name, pid, text)

    def _read_spawn_report(self, u: Unit, pid: int, fd: int) -> None:
        try:
            data = os.read(fd, 8192)
        except OSError:
            data = b""
        self.m.loop.remove_reader(fd)
        os.close(fd)
        report = parse_report(data)
        if report is None:
            if u.impl is not None:
                u.impl.exec_succeeded(pid)
            return
        _code, message = report
        self.m.log.error("%s: %s", u.id, message)
        u.log(f"{u.id}: {message}")

    def watch_pid(self, pid: int, u: Unit) -> None:
        """Watch a PID that may not be our child (PIDFile=, MAINPID=, adopted after a restart)."""
        self.watched[pid] = u
        if pid in self._pidfds:
            return
        try:
            fd = os.pidfd_open(pid)
        except OSError:
            return
        self._pidfds[pid] = fd
        self.m.loop.add_reader(fd, self._pidfd_ready, pid)

    def _pidfd_ready(self, pid: int) -> None:
        fd = self._pidfds.pop(pid, None)
        if fd is not None:
            self.m.loop.remove_reader(fd)
            os.close(fd)
        # Our child: reaped with its real status. Otherwise we only know it is gone.
        try:
            found = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            if self.defer_foreign_exit is not None and self.defer_foreign_exit(pid):
                return
            self.child_exited(pid, 0)
            return
        if found is not None:
            self._settle(found)

    def report_exit(self, pid: int, status: int) -> None:
        """The exit of a watched PID learnt elsewhere (init's exit reports, recovery)."""
        self.child_exited(pid, status)

    def reap_now(self) -> None:
        self._reap()

    def _reap(self) -> None:
        while True:
            try:
                found = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                return
            if found is None:
                return
            self._settle(found)

    def _settle(self, found: os.waitid_result) -> None:
        """One exited child, looked at without reaping it: its outcome goes to the store first,
        then the zombie goes. A core killed in between leaves the zombie to init, whose report
        the next core applies; reaped first, the exit would be lost with the core."""
        self.child_exited(found.si_pid, _wait_status(found))
        self.m.flush_store()
        with contextlib.suppress(ChildProcessError):
            os.waitpid(found.si_pid, 0)

    def child_exited(self, pid: int, status: int) -> None:
        fd = self._pidfds.pop(pid, None)
        if fd is not None:
            self.m.loop.remove_reader(fd)
            os.close(fd)
        u = self.watched.pop(pid, None)
        if u is None or u.impl is None:
            return
        if self.m.oom is not None:  # an OOM kill behind this exit is the unit's news first
            self.m.oom.check(u.id)
        try:
            u.impl.child_exited(pid, status)
        except Exception:
            self.m.log.exception("%s: handling exit of PID %d failed", u.id, pid)
        self.m.engine.schedule_run_queue()

    def unit_pids(self, u: Unit, roots: list[int]) -> list[int]:
        if self.m.cgroups is not None and self.m.cgroups.enabled:
            return self.m.cgroups.pids(u.id)
        out: list[int] = []
        for r in roots:
            out += [p for p in process_tree(r) if p not in out]
        return out

    def cgroups_empty(self, u: Unit) -> bool:
        if self.m.cgroups is not None and self.m.cgroups.enabled:
            return self.m.cgroups.is_empty(u.id)
        return True

    def kill_unit_processes(self, u: Unit, signo: int, exclude: frozenset[int], roots: list[int]) -> list[int]:
        if self.m.cgroups is not None and self.m.cgroups.enabled:
            return self.m.cgroups.kill(u.id, signo, exclude)
        sent = []
        for pid in self.unit_pids(u, roots):
            if pid not in exclude and send_signal(pid, signo):
                sent.append(pid)
        return sent

    def cgroup_cleanup(self, u: Unit) -> None:
        """The unit stopped: drop its empty cgroup and RuntimeDirectory= unless preserved."""
        if self.m.cgroups is not None and self.m.cgroups.is_empty(u.id):
            self.m.cgroups.remove(u.id)
        freed = self.dynamic_users.release(u.id)
        if u.config is not None and u.config.exec.remove_ipc:
            # Simpler than systemd, which waits for the last unit of a static user to stop.
            ctx = u.config.exec
            owners: list[tuple[int | None, int | None]] = [*freed] if ctx.dynamic_user else [
                owner_ids(ctx.user, ctx.group)]
            for uid, gid in owners:
                ipc_clean.clean(uid, gid)
        dirs = self.private_tmp.pop(u.id, None)
        if dirs is not None and dirs not in self.private_tmp.values():
            sandbox.remove_private_tmp(dirs)
        self.namespaces.release(u.id)
        if u.config is not None and u.config.exec.credentials and self.directory_bases().get("runtime"):
            credentials.remove(self.directory_bases()["runtime"], u.id)
        if u.config is None or u.config.exec.runtime_directory_preserve != "no":
            return
        base = self.directory_bases().get("runtime")
        if not base:
            return
        import shutil

        for d in u.config.exec.runtime_directory:
            shutil.rmtree(os.path.join(base, d.path), ignore_errors=True)

    def is_tracked(self, pid: int) -> bool:
        """Whether the PID is watched and its exit not handled yet."""
        return pid in self.watched

    def unit_of_pid(self, pid: int) -> Unit | None:
        if pid in self.watched:
            return self.watched[pid]
        for u in self.m.units_by_id().values():
            if u.impl is not None and pid and pid in u.impl.pids().values():
                return u
        if self.m.cgroups is not None:
            name = self.m.cgroups.unit_of_pid(pid)
            if name:
                return self.m.units.get(name)
        return None

    def _on_notify(self, pid: int, fields: dict[str, str], fds: list[int]) -> None:
        u = self.unit_of_pid(pid)
        if u is None or u.impl is None:
            self.m.log.debug("Cannot find unit for notify message of PID %d, ignoring.", pid)
            for fd in fds:
                os.close(fd)
            return
        in_unit = self.m.cgroups is not None and self.m.cgroups.unit_of_pid(pid) == u.id
        why = u.impl.accepts_notify_from(pid, in_unit)
        if why:
            self.m.log.warning("%s: %s", u.id, why)
            for fd in fds:
                os.close(fd)
            return
        u.impl.notify_message(pid, fields, fds)



def _dir_settings(u: Unit) -> dict[str, tuple[list[str], int]]:
    return directory_settings(u.config.exec) if u.config else {}
