"""Spawning a unit's process: fork, set the child up in systemd's order, exec.

The core is single-threaded, so fork is safe. Every failure between fork and exec ends the child
with systemd's exit code (200 CHDIR, 203 EXEC, 216 GROUP, 217 USER, ...) so `status=203/EXEC` reads
as users know it; the reason travels back over a close-on-exec pipe so the manager can log it.
An empty read on that pipe means exec succeeded (what Type=exec waits for).
"""

from __future__ import annotations

import contextlib
import errno
import grp
import os
import pwd
import re
import resource
import shutil
import signal
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from compat.model import ExecCommand, ExecContext, ExecFlag, ResourceLimit, StdInput, StdOutput
from sysmasterd.core import capabilities, dynamic_user, userns
from sysmasterd.core.idlepipe import IdleFds, wait_until_idle
from sysmasterd.core.sandbox import SandboxPaths

EXIT_CHDIR = 200
EXIT_NICE = 201
EXIT_FDS = 202
EXIT_EXEC = 203
EXIT_LIMITS = 205
EXIT_OOM_ADJUST = 206
EXIT_SIGNAL_MASK = 207
EXIT_STDIN = 208
EXIT_STDOUT = 209
EXIT_CHROOT = 210
EXIT_IOPRIO = 211
EXIT_SECUREBITS = 213
EXIT_CPUAFFINITY = 215
EXIT_GROUP = 216
EXIT_USER = 217
EXIT_CAPABILITIES = 218
EXIT_CGROUP = 219
EXIT_SETSID = 220
EXIT_STDERR = 222
EXIT_NETWORK = 225
EXIT_NAMESPACE = 226
EXIT_NO_NEW_PRIVILEGES = 227
EXIT_SECCOMP = 228
EXIT_PERSONALITY = 230
EXIT_ADDRESS_FAMILIES = 232
EXIT_RUNTIME_DIRECTORY = 233
EXIT_STATE_DIRECTORY = 238
EXIT_CACHE_DIRECTORY = 239
EXIT_LOGS_DIRECTORY = 240
EXIT_CONFIGURATION_DIRECTORY = 241
EXIT_CREDENTIALS = 243

# Debian builds systemd with split-usr, so /sbin and /bin are searched too.
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

RLIMITS: dict[str, int] = {
    "CPU": resource.RLIMIT_CPU, "FSIZE": resource.RLIMIT_FSIZE, "DATA": resource.RLIMIT_DATA,
    "STACK": resource.RLIMIT_STACK, "CORE": resource.RLIMIT_CORE, "RSS": resource.RLIMIT_RSS,
    "NOFILE": resource.RLIMIT_NOFILE, "AS": resource.RLIMIT_AS, "NPROC": resource.RLIMIT_NPROC,
    "MEMLOCK": resource.RLIMIT_MEMLOCK, "LOCKS": 10, "SIGPENDING": resource.RLIMIT_SIGPENDING,
    "MSGQUEUE": resource.RLIMIT_MSGQUEUE, "NICE": resource.RLIMIT_NICE, "RTPRIO": resource.RLIMIT_RTPRIO,
    "RTTIME": resource.RLIMIT_RTTIME,
}

PERSONALITIES = {"x86": 0x0008, "x86-64": 0x0000, "arm64": 0x0000, "s390": 0x0000, "ppc64": 0x0000}

_SYS_IOPRIO_SET = {"x86_64": 251, "aarch64": 30, "i686": 289}
_IOPRIO_WHO_PROCESS = 1
_IOPRIO_CLASS_SHIFT = 13


class _ChildError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class StdioPlan:
    """File descriptors (already open in the parent) or paths for the child's fds 0, 1, 2."""

    stdin_fd: int | None = None  # None: /dev/null
    stdout_fd: int | None = None  # None: /dev/null
    stderr_fd: int | None = None  # None: same as stdout
    stdin_data: bytes = b""
    # Target (0, 1, 2) -> a descriptor a client handed over (StandardInputFileDescriptor= ...):
    # it wins over the unit's own setting for that target, as systemd's params->stdin_fd does.
    passed: dict[int, int] = field(default_factory=dict)


@dataclass
class PassedFds:
    """What socket activation and the fd store hand a service: fds in order, with their names
    (LISTEN_FDNAMES). With StandardInput=socket the one fd becomes stdin/stdout instead."""

    fds: list[int] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    environment: dict[str, str] = field(default_factory=dict)  # REMOTE_ADDR= and REMOTE_PORT=
    n_storage: int = 0  # the last ones come from the fd store: NonBlocking= leaves them alone


@dataclass
class SpawnRequest:
    command: ExecCommand
    context: ExecContext
    environment: dict[str, str]
    cgroup_procs: str | None = None  # path of the cgroup.procs file to join
    stdio: StdioPlan = field(default_factory=StdioPlan)
    apply_credentials: bool = True  # False for "+" commands
    runtime_dirs: dict[str, str] = field(default_factory=dict)  # kind -> base dir (e.g. /run)
    pass_fds: list[int] = field(default_factory=list)
    # Socket activation: these land on fds 3, 4, ... in order, and LISTEN_PID names the child.
    listen_fds: list[int] = field(default_factory=list)
    listen_nonblocking: bool = False  # NonBlocking=: O_NONBLOCK on them, else cleared (as systemd)
    listen_storage: int = 0  # how many of them (the last) are fd-store fds, whose flags stay
    # Without WorkingDirectory=: "/" for the system manager, the user's home for a user manager.
    default_directory: str = "/"
    need_exec_report: bool = False  # Type=exec: the caller waits for execve() to succeed
    idle_fds: IdleFds | None = None  # Type=idle: wait on these before anything else
    # Resource limits to set: the manager's defaults (DefaultLimit*=) under the unit's Limit*=.
    limits: dict[str, ResourceLimit] = field(default_factory=dict)
    # False for "+" commands: no namespaces, capability or seccomp restrictions.
    sandboxing: bool = True
    sandbox: SandboxPaths = field(default_factory=SandboxPaths)  # what the parent prepared
    # Besides cgroup_procs, the cgroup.procs of the unit's v1 controller cgroups (hybrid hosts).
    controller_procs: tuple[str, ...] = ()


@dataclass
class Spawned:
    pid: int
    error_fd: int  # read end of the close-on-exec pipe


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$\$")


def expand_argv(argv: tuple[str, ...], env: dict[str, str]) -> list[str]:
    """systemd 252's replace_env_argv(): a word that is exactly $FOO splits on whitespace; within
    a word only ${FOO} substitutes and $$ is a `$`; any other `$` (a shell's `$line` in `sh -c`)
    is left for the program."""
    out: list[str] = []
    for word in argv:
        m = re.fullmatch(r"\$([A-Za-z_][A-Za-z0-9_]*)", word)
        if m:
            out.extend(env.get(m.group(1), "").split())
            continue
        out.append(_VAR.sub(lambda mm: "$" if mm.group(0) == "$$" else env.get(mm.group(1), ""), word))
    return out


def find_executable(path: str, env: dict[str, str], search: list[str]) -> str:
    """`search` is ExecSearchPath=: when set, the only directories looked in, whatever $PATH says."""
    if "/" in path:
        return path
    return shutil.which(path, path=":".join(search) if search else env.get("PATH", DEFAULT_PATH)) or path


def read_environment_file(path: str) -> list[tuple[str, str]]:
    """EnvironmentFile= syntax: KEY=VALUE lines, # and ; comments, quotes, backslash continuation."""
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    out: list[tuple[str, str]] = []
    logical = ""
    for raw in text.splitlines():
        if raw.endswith("\\"):
            logical += raw[:-1]
            continue
        line = (logical + raw).strip()
        logical = ""
        if not line or line[0] in "#;":
            continue
        if line.startswith("export "):
            line = line[7:].lstrip()
        if "=" not in line:
            continue
        k, v = line.split("=", 1)
        k, v = k.strip(), v.strip()
        if len(v) >= 2 and v[0] == v[-1] and v[0] in "\"'":
            v = v[1:-1]
            if line.split("=", 1)[1].strip()[0] == '"':
                v = re.sub(r'\\(["\\$`])', r"\1", v)
        out.append((k, v))
    return out


def spawn(req: SpawnRequest) -> Spawned:
    """Start the command: posix_spawn() when that suffices, else fork and set the child up."""
    from sysmasterd.core import fastspawn

    env = req.environment
    path = find_executable(req.command.path, env, req.context.exec_search_path)
    argv = list(req.command.argv) if req.command.flags & ExecFlag.NO_ENV_EXPAND else expand_argv(
        req.command.argv, env)
    prefix = fastspawn.shell_prefix(req, path, argv)
    if prefix is not None:
        return Spawned(fastspawn.spawn(req, path, argv, env, prefix), -1)
    return _fork_and_exec(req)


def _fork_and_exec(req: SpawnRequest) -> Spawned:
    """Fork and exec. The parent gets the PID at once; the child reports failures via the pipe."""
    rfd, wfd = os.pipe2(os.O_CLOEXEC)
    stdin_r = stdin_w = -1
    if req.stdio.stdin_data:
        stdin_r, stdin_w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:
        code = EXIT_EXEC
        try:
            os.close(rfd)
            if stdin_w >= 0:
                os.close(stdin_w)
            _child(req, stdin_r, wfd)
        except _ChildError as e:
            code = e.code
            _report(wfd, e.code, e.message)
        except BaseException as e:  # anything at all: the child must never return into the core
            _report(wfd, code, f"{type(e).__name__}: {e}")
        os._exit(code)
    os.close(wfd)
    if stdin_w >= 0:
        os.close(stdin_r)
        try:
            os.set_blocking(stdin_w, False)
            os.write(stdin_w, req.stdio.stdin_data)
        except OSError:
            pass
        os.close(stdin_w)
    return Spawned(pid, rfd)


def _report(fd: int, code: int, message: str) -> None:
    data = message.encode("utf-8", "replace")[:4000]
    try:
        os.write(fd, struct.pack("=i", code) + data)
    except OSError:
        pass


def parse_report(data: bytes) -> tuple[int, str] | None:
    if len(data) < 4:
        return None
    (code,) = struct.unpack("=i", data[:4])
    return code, data[4:].decode("utf-8", "replace")


_UNCATCHABLE = {signal.SIGKILL, signal.SIGSTOP}


def _child(req: SpawnRequest, stdin_pipe: int, report_fd: int) -> None:
    ctx = req.context
    # Signals: the core's handlers die with exec, but ignored signals and the mask survive it.
    try:
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        # every signal, as systemd does: one ignored by whoever started the core (SIGQUIT, SIGHUP
        # under nohup) would otherwise reach the service ignored
        for sig in signal.valid_signals() - _UNCATCHABLE:
            signal.signal(sig, signal.SIG_DFL)
        signal.set_wakeup_fd(-1)
        if ctx.ignore_sigpipe:
            signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    except (OSError, ValueError) as e:
        raise _ChildError(EXIT_SIGNAL_MASK, f"Failed to reset signals: {e}") from e
    if req.idle_fds is not None:
        wait_until_idle(req.idle_fds)
    try:
        os.setsid()
    except OSError as e:
        raise _ChildError(EXIT_SETSID, f"Failed to create new process session: {e}") from e
    for procs in (req.cgroup_procs, *req.controller_procs) if req.cgroup_procs else ():
        try:
            with open(procs, "w") as f:
                f.write("0")
        except OSError as e:
            raise _ChildError(EXIT_CGROUP, f"Failed to attach to cgroup {procs}: {e}") from e
    _setup_stdio(req, stdin_pipe)
    if ctx.oom_score_adjust is not None:
        _set_oom_score_adjust(ctx.oom_score_adjust)
    if ctx.nice is not None:
        try:
            os.setpriority(os.PRIO_PROCESS, 0, ctx.nice)
        except OSError as e:
            raise _ChildError(EXIT_NICE, f"Failed to set up process scheduling priority (nice level): {e}") from e
    if ctx.io_scheduling_class is not None or ctx.io_scheduling_priority is not None:
        _set_ioprio(ctx)
    if ctx.cpu_affinity:
        try:
            os.sched_setaffinity(0, ctx.cpu_affinity)
        except OSError as e:
            raise _ChildError(EXIT_CPUAFFINITY, f"Failed to set up CPU affinity: {e}") from e
    for name, lim in req.limits.items():
        try:
            setrlimit_closest(RLIMITS[name], lim)
        except (OSError, ValueError, KeyError) as e:
            raise _ChildError(EXIT_LIMITS, f"Failed to adjust resource limit RLIMIT_{name}: {e}") from e
    if ctx.personality:
        _set_personality(ctx.personality)

    uid, gid, home, _shell, user_name = _resolve_credentials(ctx) if req.apply_credentials else (
        None, None, None, None, None)
    _make_directories(req, uid, gid)
    if req.sandbox.credentials is not None:
        _write_credentials(req.sandbox.credentials)
    # PrivateUsers=: last when privileged (the other namespaces are then owned by the host's user
    # namespace), first without CAP_SYS_ADMIN, so that they can be created at all.
    users_first = req.sandboxing and ctx.private_users and not capabilities.have_effective(capabilities.CAP_SYS_ADMIN)
    if users_first:
        _private_users(uid, gid, "Failed to set up user namespacing for unprivileged user")
    if ctx.root_directory and req.sandboxing:
        _load_before_root_change(ctx)
    _enter_namespaces(req)
    if req.sandboxing and ctx.private_users and not users_first:
        _private_users(uid, gid, "Failed to set up user namespacing")
    if req.sandboxing:
        _restrict_capabilities(ctx)
    if ctx.root_directory and not _namespace_moved_root(ctx):
        try:
            os.chroot(ctx.root_directory)
            os.chdir("/")
        except OSError as e:
            raise _ChildError(EXIT_CHROOT, f"Failed to change root directory: {e}") from e
    os.umask(ctx.umask)
    if req.apply_credentials:
        _drop_privileges(ctx, uid, gid, user_name, req.sandboxing)
    _change_directory(ctx, home, req.default_directory)

    env = dict(req.environment)
    path = find_executable(req.command.path, env, req.context.exec_search_path)
    argv = list(req.command.argv)
    if not req.command.flags & ExecFlag.NO_ENV_EXPAND:
        argv = expand_argv(req.command.argv, env)
    kept = list(req.pass_fds)
    if req.listen_fds:
        env["LISTEN_PID"] = str(os.getpid())
        report_fd = _install_listen_fds(req.listen_fds, report_fd, req.listen_nonblocking,
                                        len(req.listen_fds) - req.listen_storage)
        kept += range(3, 3 + len(req.listen_fds))
    # The report pipe stays (it is close-on-exec) so a failing execve() can still be reported.
    _close_all_but(kept, report_fd)
    if req.sandboxing:
        _lock_down(ctx)  # seccomp last: as little of our own code as possible runs under it
    try:
        os.execve(path, argv or [path], env)
    except OSError as e:
        raise _ChildError(EXIT_EXEC, f"Failed to execute {path}: {os.strerror(e.errno or errno.ENOEXEC)}") from e


def _set_oom_score_adjust(value: int) -> None:
    """A value the kernel refuses for lack of privilege (lowering it without CAP_SYS_RESOURCE, as
    in a container or a user namespace) is skipped, as systemd 252 does; other errors are fatal.
    A refused write of the value already in place counts as done (systemd verifies on failure)."""
    try:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write(str(value))
    except OSError as e:
        if e.errno in (errno.EPERM, errno.EACCES):
            return
        try:
            with open("/proc/self/oom_score_adj") as f:
                if int(f.read()) == value:
                    return
        except (OSError, ValueError):
            pass
        raise _ChildError(EXIT_OOM_ADJUST, f"Failed to adjust OOM setting: {e}") from e


def setrlimit_closest(which: int, lim: ResourceLimit) -> None:
    """Set a limit, or when that is not permitted (a hard limit above ours without
    CAP_SYS_RESOURCE, or NOFILE above fs.nr_open) come as close as the current hard limit allows,
    as systemd's setrlimit_closest() does. An unbounded hard limit means the refusal had another
    cause, so the error stands."""
    try:
        resource.prlimit(0, which, (lim.soft, lim.hard))
        return
    except PermissionError:
        _, hard = resource.getrlimit(which)
        if hard == resource.RLIM_INFINITY:
            raise
    fixed = (_rlim_min(lim.soft, hard), _rlim_min(lim.hard, hard))
    if fixed != resource.getrlimit(which):
        resource.prlimit(0, which, fixed)


def _rlim_min(a: int, b: int) -> int:
    """min() where RLIM_INFINITY (-1 in Python's resource module) is the largest value."""
    if a == resource.RLIM_INFINITY:
        return b
    if b == resource.RLIM_INFINITY:
        return a
    return min(a, b)


def _fd_limit() -> int:
    try:
        return min(resource.getrlimit(resource.RLIMIT_NOFILE)[0], 1 << 20)
    except (OSError, ValueError):
        return 1024


def _install_listen_fds(fds: list[int], report_fd: int, nonblocking: bool, n_sockets: int) -> int:
    """Put ``fds`` on 3, 4, ... (sd_listen_fds' SD_LISTEN_FDS_START); returns where the report
    pipe went. Everything is first moved above the range so that no dup2() hits a source still
    to be moved."""
    import fcntl

    floor = max(*fds, report_fd, 3 + len(fds)) + 1
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, floor) for fd in fds]
    report_fd = fcntl.fcntl(report_fd, fcntl.F_DUPFD_CLOEXEC, floor)
    for i, fd in enumerate(high):
        os.dup2(fd, 3 + i)
        if i < n_sockets:
            os.set_blocking(3 + i, not nonblocking)
        os.close(fd)
    return report_fd


def _close_all_but(passed: list[int], report_fd: int) -> None:
    last = 3
    for fd in sorted({*passed, report_fd}):
        if fd > last:
            os.closerange(last, fd)
        last = fd + 1
        if fd != report_fd:
            os.set_inheritable(fd, True)
    os.closerange(last, _fd_limit())


def _setup_stdio(req: SpawnRequest, stdin_pipe: int) -> None:
    ctx, io = req.context, req.stdio
    try:
        if 0 in io.passed:
            _passed_stdin(io.passed[0], ctx.standard_input is StdInput.TTY_FORCE)
        elif stdin_pipe >= 0:
            os.dup2(stdin_pipe, 0)
        elif ctx.standard_input is StdInput.FILE and ctx.standard_input_path:
            fd = os.open(ctx.standard_input_path, os.O_RDONLY)
            os.dup2(fd, 0)
        elif ctx.standard_input in (StdInput.TTY, StdInput.TTY_FORCE, StdInput.TTY_FAIL):
            fd = os.open(ctx.tty_path or "/dev/console", os.O_RDWR | os.O_NOCTTY)
            os.dup2(fd, 0)
        elif io.stdin_fd is not None:
            os.dup2(io.stdin_fd, 0)
        else:
            fd = os.open("/dev/null", os.O_RDONLY)
            os.dup2(fd, 0)
    except OSError as e:
        raise _ChildError(EXIT_STDIN, f"Failed to set up standard input: {e}") from e
    try:
        if 1 in io.passed:
            os.dup2(io.passed[1], 1)
        else:
            _one_output(ctx.standard_output, ctx.standard_output_path, io.stdout_fd, 1, ctx.tty_path)
    except OSError as e:
        raise _ChildError(EXIT_STDOUT, f"Failed to set up standard output: {e}") from e
    try:
        if 2 in io.passed:
            os.dup2(io.passed[2], 2)
        elif ctx.standard_error is None and io.stderr_fd is None:
            os.dup2(1, 2)
        else:
            _one_output(ctx.standard_error, ctx.standard_error_path, io.stderr_fd, 2, ctx.tty_path)
    except OSError as e:
        raise _ChildError(EXIT_STDERR, f"Failed to set up standard error: {e}") from e


def _passed_stdin(fd: int, force: bool) -> None:
    """A terminal handed over as stdin becomes the controlling terminal of the session the child
    just created, as a tty-owning service's would (`tty` and job control work under systemd-run
    --pty); stealing it from another session only with StandardInput=tty-force. A refusal is not
    fatal: the descriptor still works as plain input."""
    import fcntl
    import termios

    os.dup2(fd, 0)
    if os.isatty(0):
        with contextlib.suppress(OSError):
            fcntl.ioctl(0, termios.TIOCSCTTY, 1 if force else 0)


def _one_output(kind: StdOutput | None, path: str | None, fd: int | None, target: int, tty: str | None) -> None:
    if kind in (StdOutput.FILE, StdOutput.APPEND, StdOutput.TRUNCATE) and path:
        flags = os.O_WRONLY | os.O_CREAT
        if kind is StdOutput.APPEND:
            flags |= os.O_APPEND
        elif kind is StdOutput.TRUNCATE:
            flags |= os.O_TRUNC
        new = os.open(path, flags, 0o644)
        os.dup2(new, target)
    elif kind is StdOutput.TTY:
        os.dup2(os.open(tty or "/dev/console", os.O_WRONLY | os.O_NOCTTY), target)
    elif kind is StdOutput.INHERIT:
        if target == 2:
            os.dup2(1, 2)
        elif fd is not None:
            os.dup2(fd, target)
    elif kind is StdOutput.NULL or fd is None:
        os.dup2(os.open("/dev/null", os.O_WRONLY), target)
    else:
        os.dup2(fd, target)


def _set_ioprio(ctx: ExecContext) -> None:
    import platform

    nr = _SYS_IOPRIO_SET.get(platform.machine())
    if nr is None:
        raise _ChildError(EXIT_IOPRIO, "Failed to set up IO scheduling priority: unsupported architecture")
    import ctypes  # in the child only

    cls = ctx.io_scheduling_class.value if ctx.io_scheduling_class is not None else 2
    prio = ctx.io_scheduling_priority if ctx.io_scheduling_priority is not None else 4
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.syscall(nr, _IOPRIO_WHO_PROCESS, 0, (cls << _IOPRIO_CLASS_SHIFT) | prio) < 0:
        e = ctypes.get_errno()
        raise _ChildError(EXIT_IOPRIO, f"Failed to set up IO scheduling priority: {os.strerror(e)}")


def _set_personality(name: str) -> None:
    if name not in PERSONALITIES:
        raise _ChildError(EXIT_PERSONALITY, f"Failed to set up execution domain (personality): unknown {name}")
    import ctypes  # in the child only

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.personality(ctypes.c_ulong(PERSONALITIES[name])) < 0:
        raise _ChildError(EXIT_PERSONALITY, "Failed to set up execution domain (personality)")


def _resolve_credentials(ctx: ExecContext) -> tuple[int | None, int | None, str | None, str | None, str | None]:
    uid = gid = None
    home = shell = name = None
    if ctx.user:
        try:
            pw = pwd.getpwuid(int(ctx.user)) if ctx.user.isdigit() else pwd.getpwnam(ctx.user)
        except (KeyError, ValueError):
            if ctx.user.isdigit():
                uid = int(ctx.user)
            else:
                raise _ChildError(EXIT_USER, "Failed to determine user credentials: No such process") from None
        else:
            uid, gid, home, shell, name = pw.pw_uid, pw.pw_gid, pw.pw_dir, pw.pw_shell, pw.pw_name
    if ctx.group:
        try:
            gid = int(ctx.group) if ctx.group.isdigit() else grp.getgrnam(ctx.group).gr_gid
        except (KeyError, ValueError):
            raise _ChildError(EXIT_GROUP, "Failed to determine group credentials: No such process") from None
    return uid, gid, home, shell, name


def _drop_privileges(ctx: ExecContext, uid: int | None, gid: int | None, user_name: str | None,
                     sandboxing: bool = False) -> None:
    try:
        extra: list[int] = []
        for g in ctx.supplementary_groups:
            extra.append(int(g) if g.isdigit() else grp.getgrnam(g).gr_gid)
    except (KeyError, ValueError):
        raise _ChildError(EXIT_GROUP, "Failed to determine supplementary groups: No such process") from None
    try:
        if ctx.private_users and userns.setgroups_denied():  # the group list stays as it is
            if gid is not None:
                os.setresgid(gid, gid, gid)
        elif gid is not None:
            if user_name is not None:
                os.initgroups(user_name, gid)
                if extra:
                    os.setgroups(list(dict.fromkeys(os.getgroups() + extra)))
            else:
                os.setgroups(extra)
            os.setresgid(gid, gid, gid)
        elif extra:
            os.setgroups(extra)
    except OSError as e:
        raise _ChildError(EXIT_GROUP, f"Failed to change group credentials: {e}") from e
    if uid is not None:
        ambient = sandboxing and ctx.ambient_capabilities != 0
        try:
            if ambient and uid != 0:
                capabilities.keep_caps_across_setuid(ctx.secure_bits)
            os.setresuid(uid, uid, uid)
        except OSError as e:
            raise _ChildError(EXIT_USER, f"Failed to change UID to {uid}: {e}") from e
        if ambient:
            try:
                capabilities.apply_ambient(ctx.ambient_capabilities, also_inheritable=False)
            except OSError as e:
                raise _ChildError(EXIT_CAPABILITIES,
                                  f"Failed to apply ambient capabilities (after UID change): {e}") from e


def _namespace_moved_root(ctx: ExecContext) -> bool:
    """A mount namespace of the unit's own was built inside RootDirectory= and moved onto /."""
    from sysmasterd.core import sandbox

    return sandbox.needs_mount_namespace(ctx)


def _write_credentials(write: Callable[[], object]) -> None:
    from sysmasterd.core.credentials import CredentialError

    try:
        write()
    except (OSError, CredentialError) as e:
        raise _ChildError(EXIT_CREDENTIALS, f"Failed to set up credentials: {e}") from e


def _enter_namespaces(req: SpawnRequest) -> None:
    from sysmasterd.core import sandbox

    try:
        sandbox.enter(req.context, req.sandbox, req.sandboxing)
    except sandbox.SandboxError as e:
        raise _ChildError(EXIT_NETWORK if e.network else EXIT_NAMESPACE, str(e)) from e


def _private_users(uid: int | None, gid: int | None, what: str) -> None:
    try:
        userns.setup_private_users(uid, gid)
    except OSError as e:
        raise _ChildError(EXIT_USER, f"{what}: {e.strerror}") from e


def _restrict_capabilities(ctx: ExecContext) -> None:
    """RestrictRealtime='s RLIMIT_RTPRIO, the bounding set, ambient capabilities (raised once
    before the user change, and again after it)."""
    if ctx.restrict_realtime and "RTPRIO" not in ctx.limits:
        try:
            resource.setrlimit(resource.RLIMIT_RTPRIO, (0, 0))
        except (OSError, ValueError) as e:
            raise _ChildError(EXIT_LIMITS, f"Failed to adjust RLIMIT_RTPRIO resource limit: {e}") from e
    bounding = capabilities.effective_bounding_set(ctx)
    try:
        if bounding != capabilities.CAP_ALL_KNOWN:
            capabilities.drop_bounding_set(bounding)
    except OSError as e:
        raise _ChildError(EXIT_CAPABILITIES, f"Failed to drop capabilities: {e}") from e
    if ctx.ambient_capabilities:
        try:
            capabilities.apply_ambient(ctx.ambient_capabilities, also_inheritable=True)
        except OSError as e:
            raise _ChildError(EXIT_CAPABILITIES,
                              f"Failed to apply ambient capabilities (before UID change): {e}") from e


def _load_before_root_change(ctx: ExecContext) -> None:
    """What the child still loads after it entered RootDirectory= (our modules, libseccomp) is
    loaded now: the root need not hold either."""
    from sysmasterd.core import seccomp

    if seccomp.uses_seccomp(ctx):
        try:
            seccomp.library()
        except OSError as e:
            raise _ChildError(EXIT_SECCOMP, f"Failed to load libseccomp: {e}") from e


def _lock_down(ctx: ExecContext) -> None:
    """Secure bits, NoNewPrivileges= (implied where a filter is loaded without CAP_SYS_ADMIN),
    then the seccomp filters."""
    from sysmasterd.core import seccomp

    try:
        capabilities.set_secure_bits(ctx.secure_bits)
    except OSError as e:
        raise _ChildError(EXIT_SECUREBITS, f"Failed to set process secure bits: {e}") from e
    filters = seccomp.uses_seccomp(ctx)
    if ctx.no_new_privileges or (filters and not capabilities.have_effective(capabilities.CAP_SYS_ADMIN)):
        try:
            capabilities.no_new_privileges()
        except OSError as e:
            raise _ChildError(EXIT_NO_NEW_PRIVILEGES, f"Failed to disable new privileges: {e}") from e
    if not filters:
        return
    try:
        seccomp.apply_all(ctx)
    except seccomp.SeccompError as e:
        code = EXIT_ADDRESS_FAMILIES if "address families" in str(e) else EXIT_SECCOMP
        raise _ChildError(code, str(e)) from e


def _change_directory(ctx: ExecContext, home: str | None, default: str) -> None:
    wd = ctx.working_directory
    if wd is None:
        wd = default
    elif wd == "~":
        wd = home or default
    try:
        os.chdir(wd)
    except OSError as e:
        if ctx.working_directory_missing_ok:
            os.chdir("/")
            return
        raise _ChildError(EXIT_CHDIR, f"Changing to the requested working directory failed: {e}") from e


_DIR_CODES = {"runtime": EXIT_RUNTIME_DIRECTORY, "state": EXIT_STATE_DIRECTORY, "cache": EXIT_CACHE_DIRECTORY,
              "logs": EXIT_LOGS_DIRECTORY, "configuration": EXIT_CONFIGURATION_DIRECTORY}


def directory_settings(ctx: ExecContext) -> dict[str, tuple[list[str], int]]:
    return {
        "runtime": ([d.path for d in ctx.runtime_directory], ctx.runtime_directory_mode),
        "state": ([d.path for d in ctx.state_directory], ctx.state_directory_mode),
        "cache": ([d.path for d in ctx.cache_directory], ctx.cache_directory_mode),
        "logs": ([d.path for d in ctx.logs_directory], ctx.logs_directory_mode),
        "configuration": ([d.path for d in ctx.configuration_directory], ctx.configuration_directory_mode),
    }


def _make_directories(req: SpawnRequest, uid: int | None, gid: int | None) -> None:
    for kind, (paths, mode) in directory_settings(req.context).items():
        base = req.runtime_dirs.get(kind)
        if not base:
            continue
        for rel in paths:
            full = os.path.join(base, rel)
            try:
                if dynamic_user.is_private(req.context, kind):
                    full = dynamic_user.private_directory(base, rel)
                os.makedirs(full, mode=0o755, exist_ok=True)
                os.chmod(full, mode)
                if req.context.dynamic_user and uid is not None and gid is not None:
                    dynamic_user.chown_tree(full, uid, gid)
                elif uid is not None or gid is not None:
                    os.chown(full, uid if uid is not None else -1, gid if gid is not None else -1)
            except OSError as e:
                raise _ChildError(_DIR_CODES[kind], f"Failed to set up {kind} directory {full}: {e}") from e


def describe_status(status: int) -> tuple[int, int]:
    """Raw wait status -> (si_code, si_status) as systemd stores them: CLD_EXITED=1, KILLED=2, DUMPED=3."""
    if os.WIFEXITED(status):
        return 1, os.WEXITSTATUS(status)
    if os.WIFSIGNALED(status):
        return (3 if os.WCOREDUMP(status) else 2), os.WTERMSIG(status)
    return 1, 0

