"""Unit generators, run the way systemd 252 runs them (manager_run_generators() in manager.c,
execute_directories() in exec-util.c, generator_binary_paths() in path-lookup.c).

The executables of the scope's generator directories (earlier directory wins for one name; an
empty file or a link to /dev/null masks the name) run in parallel with the three output
directories as arguments, "normal early late", in an environment that tells them the scope, the
initrd and first-boot state, virtualization and architecture. The output directories are emptied
and created afresh before each run (at start and at daemon-reload), and the empty ones removed
after it, so the unit search path sees exactly what this run generated.

Like PID 1, the manager waits for the generators (they are quick, and units must not load before
they are done) at most DEFAULT_TIMEOUT_SEC; generators still running then are terminated.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import resource
import select
import shutil
import signal
import stat
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from compat.model import Scope
from compat.search_path import lookup_paths
from compat.values import boolean_or_none
from sysmasterd.core.cmdline import switch as cmdline_switch
from sysmasterd.core.conditions import architecture, detect_virtualization

log = logging.getLogger("sysmasterd")

# systemd's DEFAULT_TIMEOUT_USEC (meson's default-timeout-sec, 90 on Debian).
DEFAULT_TIMEOUT_SEC = 90.0
# What a generator still running at the deadline gets after SIGTERM before SIGKILL. systemd leaves
# it running (reparented to PID 1); nothing would ever wait for it here, so it is ended.
_TERM_GRACE_SEC = 1.0
# FD_SETSIZE: generators get a soft NOFILE limit select() copes with (rlimit_nofile_safe()).
_SAFE_NOFILE = 1024

# Debian builds systemd with rootprefix=/ (system generators in /lib) and prefix=/usr.
SYSTEM_GENERATOR_PATH = ("/run/systemd/system-generators", "/etc/systemd/system-generators",
                         "/usr/local/lib/systemd/system-generators", "/lib/systemd/system-generators")
USER_GENERATOR_PATH = ("/run/systemd/user-generators", "/etc/systemd/user-generators",
                       "/usr/local/lib/systemd/user-generators", "/usr/lib/systemd/user-generators")

# Names conf_files_list() never picks up (hidden_or_backup_file() in path-util.c).
_SKIPPED_NAMES = frozenset({"lost+found", "aquota.user", "aquota.group"})
_BACKUP_SUFFIXES = frozenset({"rpmnew", "rpmsave", "rpmorig", "dpkg-old", "dpkg-new", "dpkg-tmp", "dpkg-dist",
                              "dpkg-bak", "dpkg-backup", "dpkg-remove", "ucf-new", "ucf-old", "ucf-dist", "swp",
                              "bak", "old", "new"})


@dataclass(frozen=True)
class OutputDirs:
    normal: str
    early: str
    late: str

    def all(self) -> tuple[str, str, str]:
        return self.normal, self.early, self.late


@dataclass(frozen=True)
class GeneratorResult:
    path: str
    status: int | None  # the raw wait status; None when it could not be started
    timed_out: bool = False


def binary_paths(scope: Scope, environ: Mapping[str, str]) -> list[str]:
    """Where generators live: $SYSTEMD_GENERATOR_PATH (a trailing ':' appends the defaults), else
    the scope's four directories."""
    defaults = SYSTEM_GENERATOR_PATH if scope is Scope.SYSTEM else USER_GENERATOR_PATH
    value = environ.get("SYSTEMD_GENERATOR_PATH")
    if value is None:
        return list(defaults)
    append = value.endswith(":")
    given = [p for p in value.rstrip(":").split(":") if p]
    return list(dict.fromkeys(given + list(defaults))) if append else given


def output_dirs(scope: Scope, environ: Mapping[str, str]) -> OutputDirs | None:
    """The generator directories of the unit search path (none for a user manager without
    $XDG_RUNTIME_DIR, as in systemd)."""
    dirs = lookup_paths(scope, unit_path=None, environ=environ).generator_dirs
    if len(dirs) != 3:
        return None
    early, normal, late = dirs
    return OutputDirs(normal=normal, early=early, late=late)


def hidden_or_backup_file(name: str) -> bool:
    """Names systemd skips in configuration directories (and DirectoryNotEmpty= ignores)."""
    if name.startswith(".") or name.endswith("~") or name in _SKIPPED_NAMES:
        return True
    return "." in name and name.rsplit(".", 1)[1] in _BACKUP_SUFFIXES


def _is_mask(st: os.stat_result) -> bool:
    """null_or_empty(): an empty regular file, or (through a symlink) the null device."""
    return (stat.S_ISREG(st.st_mode) and st.st_size == 0) or (
        stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 3))


def find_generators(directories: Sequence[str]) -> list[str]:
    """Executables to run, sorted by name; a name found in an earlier directory (or masked there)
    hides the same name in later ones."""
    chosen: dict[str, str] = {}
    masked: set[str] = set()
    for directory in directories:
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            name = entry.name
            if hidden_or_backup_file(name) or name in chosen or name in masked:
                continue
            try:
                st = os.stat(entry.path)
            except OSError:
                continue
            if _is_mask(st):
                masked.add(name)
            elif stat.S_ISREG(st.st_mode) and st.st_mode & 0o111:
                chosen[name] = entry.path
    return [chosen[name] for name in sorted(chosen)]


def in_initrd(environ: Mapping[str, str]) -> bool:
    forced = boolean_or_none(environ.get("SYSTEMD_IN_INITRD", ""))
    return forced if forced is not None else os.path.exists("/etc/initrd-release")


def detect_first_boot(cmdline: str | None = None) -> bool:
    """systemd's start-up rule: systemd.condition-first-boot= on the kernel command line decides;
    else a missing or "uninitialized" /etc/machine-id means first boot."""
    forced = cmdline_switch("systemd.condition-first-boot", cmdline)
    if forced is not None:
        return forced
    try:
        with open("/etc/machine-id") as f:
            return f.readline().strip() == "uninitialized"
    except OSError:
        return True


def generator_environment(scope: Scope, environ: Mapping[str, str], first_boot: bool | None) -> dict[str, str]:
    """The manager's environment plus what systemd tells generators about the machine."""
    env = dict(environ)
    env["SYSTEMD_SCOPE"] = scope.value
    if scope is Scope.SYSTEM:
        env["SYSTEMD_IN_INITRD"] = "1" if in_initrd(environ) else "0"
        if first_boot is not None:
            env["SYSTEMD_FIRST_BOOT"] = "1" if first_boot else "0"
    kind, name = detect_virtualization()
    if name != "none":
        env["SYSTEMD_VIRTUALIZATION"] = f"{kind}:{name}"
    env["SYSTEMD_ARCHITECTURE"] = architecture()
    return env


def reset_output_dirs(dirs: OutputDirs) -> None:
    """Empty and create the output directories (what a previous run generated is gone)."""
    for d in dirs.all():
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d, mode=0o755, exist_ok=True)


def _trim_output_dirs(dirs: OutputDirs) -> None:
    for d in dirs.all():
        with contextlib.suppress(OSError):
            os.rmdir(d)


def run_generators(scope: Scope, environ: Mapping[str, str], *, outputs: OutputDirs | None = None,
                   paths: Sequence[str] | None = None, first_boot: bool | None = None,
                   timeout: float = DEFAULT_TIMEOUT_SEC) -> list[GeneratorResult]:
    """Run the scope's generators into `outputs` (default: the search path's generator dirs) and
    wait for them. Failures are logged and ignored, as systemd does."""
    search = list(paths) if paths is not None else binary_paths(scope, environ)
    if not any(os.path.lexists(p) for p in search):
        return []
    outputs = outputs or output_dirs(scope, environ)
    if outputs is None:
        return []
    try:
        reset_output_dirs(outputs)
    except OSError as e:
        log.error("Failed to create generator directories: %s", e)
        _trim_output_dirs(outputs)
        return []
    try:
        env = generator_environment(scope, environ, first_boot)
        argv_tail = list(outputs.all())
        started = time.monotonic()
        running: dict[int, str] = {}
        results: list[GeneratorResult] = []
        with _generator_process_defaults():
            for path in find_generators(search):
                log.debug("About to execute %s %s", path, " ".join(argv_tail))
                try:
                    running[_spawn(path, argv_tail, env)] = path
                except OSError as e:
                    log.error("Failed to fork off %s: %s", path, e)
                    results.append(GeneratorResult(path, None))
        results += _wait_all(running, started + timeout)
        log.debug("Generators finished in %.0f ms.", (time.monotonic() - started) * 1000)
        return results
    finally:
        _trim_output_dirs(outputs)


@contextlib.contextmanager
def _generator_process_defaults() -> Iterator[None]:
    """What the forked generators inherit: umask 0022 (systemd's RUN_WITH_UMASK around the run)
    and a soft NOFILE limit of at most FD_SETSIZE. Set in the parent around the forks, so the
    child has nothing to do in Python but exec."""
    old_umask = os.umask(0o022)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    lowered = soft == resource.RLIM_INFINITY or soft > _SAFE_NOFILE
    if lowered:
        resource.setrlimit(resource.RLIMIT_NOFILE, (_SAFE_NOFILE, hard))
    try:
        yield
    finally:
        os.umask(old_umask)
        if lowered:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def _spawn(path: str, argv_tail: list[str], env: dict[str, str]) -> int:
    pid = os.fork()
    if pid:
        return pid
    try:  # the child: never return into the manager
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        for sig in signal.valid_signals():
            with contextlib.suppress(OSError, ValueError, RuntimeError):
                signal.signal(sig, signal.SIG_DFL)
        null = os.open("/dev/null", os.O_RDONLY)
        os.dup2(null, 0)
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]  # the manager's fds go above the soft limit
        os.closerange(3, hard if hard > 0 else 1 << 20)
        env["SYSTEMD_EXEC_PID"] = str(os.getpid())
        os.execve(path, [path, *argv_tail], env)
    except BaseException as e:
        with contextlib.suppress(BaseException):
            reason = os.strerror(e.errno or errno.ENOEXEC) if isinstance(e, OSError) else str(e)
            sys.stderr.write(f"Failed to execute {path}: {reason}\n")
            sys.stderr.flush()
    os._exit(1)


def _wait_all(running: dict[int, str], deadline: float) -> list[GeneratorResult]:
    """Reap our generators (only these PIDs, through pidfds: the manager's other children stay
    for its own reaper), terminating what is still running at the deadline."""
    results: list[GeneratorResult] = []
    pidfds = {os.pidfd_open(pid): pid for pid in running}
    try:
        results += _reap_until(running, pidfds, deadline)
        if running:
            log.warning("Generators still running at the time limit, terminating: %s", " ".join(running.values()))
            for pid in running:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGTERM)
            results += _reap_until(running, pidfds, time.monotonic() + _TERM_GRACE_SEC, timed_out=True)
            for pid in running:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            results += _reap_until(running, pidfds, None, timed_out=True)
    finally:
        for fd in pidfds:
            os.close(fd)
    return results


def _reap_until(running: dict[int, str], pidfds: dict[int, int], deadline: float | None,
                timed_out: bool = False) -> list[GeneratorResult]:
    results: list[GeneratorResult] = []
    poller = select.poll()
    for fd, pid in pidfds.items():
        if pid in running:
            poller.register(fd, select.POLLIN)
    while running:
        wait_ms = None if deadline is None else max(0, int((deadline - time.monotonic()) * 1000))
        ready = poller.poll(wait_ms)
        if not ready:
            break  # only a deadline ends poll() without an event
        for fd, _events in ready:
            poller.unregister(fd)
            pid = pidfds[fd]
            try:
                _, status = os.waitpid(pid, 0)
            except ChildProcessError:
                status = 0
            path = running.pop(pid)
            _log_status(path, status)
            results.append(GeneratorResult(path, status, timed_out))
    return results


def _log_status(path: str, status: int) -> None:
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) != 0:
        log.error("%s failed with exit status %d.", path, os.WEXITSTATUS(status))
    elif os.WIFSIGNALED(status):
        log.error("%s terminated by signal %s.", path, signal.Signals(os.WTERMSIG(status)).name)
