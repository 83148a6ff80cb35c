"""Spawning without running Python in the child: posix_spawn() for commands that need no set-up
between fork and exec beyond what posix_spawn itself does (session, signals, stdio).

A Python fork() costs 1-3 ms here (page tables of the whole interpreter); posix_spawn() uses
vfork and costs a fraction. Joining the unit's cgroup must happen before the command can fork, so
when there is a cgroup a tiny shell joins it and then execs the command in place.

One difference from the fork path: glibc's posix_spawn() leaves its two internal signals (32 and
33, SIGCANCEL/SIGSETXID) ignored in the child, and ignored signals survive exec. glibc and musl
programs install their own handlers for them at start-up, so nothing notices.

posix_spawn() also keeps every fd not marked close-on-exec, where the fork path closes them all.
Rather than listing /proc/self/fd for every spawn (quadratic with a log pipe per service), the
core keeps no inheritable fd: its own are close-on-exec (PEP 446, MSG_CMSG_CLOEXEC for received
ones) and mark_close_on_exec() fixes what it inherited, once, when it starts running units.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import resource
import shlex
import signal

from compat.model import ExecContext, ExecFlag, StdOutput
from sysmasterd.core.execute import EXIT_CGROUP, EXIT_LIMITS, RLIMITS, SpawnRequest

_SHELL = "/bin/sh"
_JOIN = f'echo 0 > "$0" || exit {EXIT_CGROUP}; '
_EXEC = 'exec "$@"'
_PASSIVE_OUTPUTS = (None, StdOutput.JOURNAL, StdOutput.KMSG, StdOutput.SYSLOG, StdOutput.JOURNAL_AND_CONSOLE,
                    StdOutput.KMSG_AND_CONSOLE, StdOutput.SYSLOG_AND_CONSOLE, StdOutput.NULL, StdOutput.INHERIT)
_ALL_SIGNALS = frozenset(s for s in signal.valid_signals() if s not in (signal.SIGKILL, signal.SIGSTOP))


def shell_prefix(req: SpawnRequest, path: str, argv: list[str]) -> str | None:
    """None when posix_spawn() cannot give the child exactly what the full set-up would; else
    what a tiny shell must do first ("": nothing, exec the command directly)."""
    if not _possible(req, path, argv):
        return None
    limits = _limits_script(req)
    if limits is None:
        return None
    joins = "".join(f"echo 0 > {shlex.quote(p)} || exit {EXIT_CGROUP}; " for p in req.controller_procs)
    return (_JOIN + joins if req.cgroup_procs else "") + limits


def _possible(req: SpawnRequest, path: str, argv: list[str]) -> bool:
    ctx = req.context
    if req.need_exec_report or req.pass_fds or req.listen_fds or req.idle_fds or req.command.flags & ExecFlag.ARGV0:
        return False
    if full_setup_fields(ctx, req.apply_credentials) or req.stdio.stdin_data or req.stdio.passed:
        return False
    if ctx.standard_output not in _PASSIVE_OUTPUTS or ctx.standard_error not in _PASSIVE_OUTPUTS:
        return False
    wd = ctx.working_directory or req.default_directory
    if wd == "~" or ctx.working_directory_missing_ok or wd != _cwd() or ctx.umask != _umask():
        return False
    if not argv or argv[0] != path or not os.path.isabs(path):
        return False
    return os.access(path, os.X_OK) and not os.path.isdir(path)


# Exec context fields this path gives the child itself, or that only the parent uses (the
# environment is computed before spawning). Any other field set away from its default needs the
# full child set-up: a new field is refused here until someone decides otherwise.
PARENT_OR_FAST_FIELDS = frozenset({
    "environment", "environment_files", "pass_environment", "unset_environment", "syslog_identifier",
    "syslog_priority", "syslog_level_prefix", "log_level_max", "log_extra_fields", "log_rate_limit_interval_usec",
    "log_rate_limit_burst",
    "runtime_directory_preserve", "unsupported", "limits", "ignore_sigpipe", "standard_output", "standard_error",
    "standard_output_path", "standard_error_path", "working_directory", "umask", "tty_path",
    "runtime_directory_mode", "state_directory_mode", "cache_directory_mode", "logs_directory_mode",
    "configuration_directory_mode", "exec_search_path",
})
CREDENTIAL_FIELDS = frozenset({"user", "group", "supplementary_groups"})
_DEFAULT = ExecContext()


def full_setup_fields(ctx: ExecContext, apply_credentials: bool) -> list[str]:
    """The fields of `ctx` that need the forked child's set-up (empty: posix_spawn() will do)."""
    out = []
    for f in dataclasses.fields(ExecContext):
        if f.name in PARENT_OR_FAST_FIELDS or (not apply_credentials and f.name in CREDENTIAL_FIELDS):
            continue
        if getattr(ctx, f.name) != getattr(_DEFAULT, f.name):
            out.append(f.name)
    return out


def spawn(req: SpawnRequest, path: str, argv: list[str], env: dict[str, str], prefix: str) -> int:
    """posix_spawn() the command; `prefix` from shell_prefix()."""
    io = req.stdio
    actions: list[tuple[int, ...] | tuple[int, int, str, int, int]] = [
        (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0)]
    if io.stdout_fd is None:
        actions.append((os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0))
    else:
        actions.append((os.POSIX_SPAWN_DUP2, io.stdout_fd, 1))
    actions.append((os.POSIX_SPAWN_DUP2, io.stderr_fd if io.stderr_fd is not None else 1, 2))
    defaults = _ALL_SIGNALS - {signal.SIGPIPE} if req.context.ignore_sigpipe else _ALL_SIGNALS
    # A tiny shell joins the cgroup and lowers limits before the command can fork, then execs it.
    if prefix:
        program, args = _SHELL, ["sh", "-c", prefix + _EXEC, req.cgroup_procs or "sh", *argv]
    else:
        program, args = path, argv
    return os.posix_spawn(program, args, env, file_actions=actions, setsid=True, setsigmask=(),
                          setsigdef=defaults)


def _limits_script(req: SpawnRequest) -> str | None:
    """Shell that gives the child `req.limits`: "" when it inherits them from us already, None
    when a shell cannot. The one difference a default leaves is a lower soft LimitNOFILE (ours is
    raised for our own fds), and `ulimit -S -n` can lower that."""
    script = ""
    for name, lim in req.limits.items():
        soft, hard = resource.getrlimit(RLIMITS[name])
        if (lim.soft, lim.hard) == (soft, hard):
            continue
        if name != "NOFILE" or lim.hard != hard or lim.soft > soft:
            return None
        script += f"ulimit -S -n {lim.soft} || exit {EXIT_LIMITS}; "
    return script


def mark_close_on_exec() -> None:
    """Make every fd above 2 close-on-exec (see the module's docstring)."""
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > 2:
            try:
                if os.get_inheritable(fd):
                    os.set_inheritable(fd, False)
            except OSError:
                continue  # the fd of the listing itself, closed by now


@functools.cache
def _cwd() -> str:
    return os.getcwd()  # the core never changes directory


@functools.cache
def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current
