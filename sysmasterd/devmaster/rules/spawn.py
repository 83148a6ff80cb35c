"""PROGRAM/RUN/IMPORT{program}: run a command without a shell, like udev_event_spawn()."""

import ctypes
import logging
import os
import select
import signal
import subprocess
import time
from dataclasses import dataclass

from sysmasterd.devmaster.rules.words import split_command
from sysmasterd.timespan import USEC_PER_SEC, format_timespan

log = logging.getLogger("devmaster")
UDEV_LIBEXEC = "/lib/udev"


_PR_SET_PDEATHSIG = 1


def _die_with_worker() -> None:
    # a worker killed on event timeout must not leave its PROGRAM/RUN behind (udev's FORK_DEATHSIG)
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def kill_group(pgid: int, sig: int) -> None:
    """Signal a spawned program's process group, continued in case it was stopped."""
    for signo in (sig, signal.SIGCONT):
        try:
            os.killpg(pgid, signo)
        except ProcessLookupError:
            return
        except PermissionError:
            continue


def _signal_name(signo: int) -> str:
    """signal_to_string(): the name without "SIG"."""
    try:
        return signal.Signals(signo).name.removeprefix("SIG")
    except ValueError:
        return str(signo)


def _log_exit(prefix: str, cmd: str, returncode: int, accept_failure: bool) -> None:
    if returncode == 0:
        log.debug("%sProcess '%s' succeeded.", prefix, cmd)
    elif returncode > 0:
        log.log(logging.DEBUG if accept_failure else logging.WARNING, "%sProcess '%s' failed with exit code %d.",
                prefix, cmd, returncode)
    else:
        log.error("%sProcess '%s' terminated by signal %s.", prefix, cmd, _signal_name(-returncode))


@dataclass(frozen=True)
class SpawnResult:
    returncode: int
    stdout: str
    timed_out: bool = False


def spawn(cmd: str, env: dict[str, str], timeout: float, kill_signal: int = signal.SIGKILL,
          capture: bool = True, device: str = "", accept_failure: bool = True) -> SpawnResult:
    """Run `cmd`, its stdout kept when `capture`; traced as udev_event_spawn() does for `device`
    (its output lines at debug level, a failure at warning level unless `accept_failure`)."""
    argv = split_command(cmd)
    if not argv or not argv[0]:
        raise ValueError(f"invalid command {cmd!r}")
    if not os.path.isabs(argv[0]):
        argv[0] = os.path.join(UDEV_LIBEXEC, argv[0])
    prefix = f"{device}: " if device else ""
    trace = log.isEnabledFor(logging.DEBUG)
    log.debug("%sStarting '%s'", prefix, cmd)
    try:
        proc = subprocess.Popen(
            argv, env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if capture or trace else subprocess.DEVNULL,
            stderr=subprocess.PIPE, close_fds=True, preexec_fn=_die_with_worker,
            # its own process group: a timeout kills what it started too (`sh -c 'a & b'`)
            process_group=0,
        )
    except OSError as e:
        log.error("%s: failed to execute: %s", argv[0], e.strerror)
        return SpawnResult(-1, "")
    log.debug("Successfully forked off '(spawn)' as PID %d.", proc.pid)  # udevd's safe_fork() says so
    out = bytearray()
    deadline = time.monotonic() + timeout
    # the pidfd says exactly when the program exits (Popen.wait(timeout) polls with sleeps)
    pidfd = os.pidfd_open(proc.pid)
    stdout = proc.stdout.fileno() if proc.stdout is not None else -1
    waiting = [p.fileno() for p in (proc.stdout, proc.stderr) if p is not None] + [pidfd]
    timed_out = False
    try:
        while waiting:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            ready, _, _ = select.select(waiting, [], [], left)
            for fd in ready:
                chunk = os.read(fd, 65536) if fd != pidfd else b""
                if not chunk:
                    waiting.remove(fd)
                    continue
                if fd == stdout and capture and len(out) < 16384:
                    out += chunk
                for line in chunk.decode(errors="replace").splitlines():
                    log.debug("%s'%s'(%s) '%s'", prefix, cmd, "out" if fd == stdout else "err", line)
        if timed_out:
            log.error("%sSpawned process '%s' [%d] timed out after %s, killing", prefix, cmd, proc.pid,
                      format_timespan(int(timeout * USEC_PER_SEC), USEC_PER_SEC))
            kill_group(proc.pid, kill_signal)
        proc.wait()
        _log_exit(prefix, cmd, proc.returncode, accept_failure)
    finally:
        os.close(pidfd)
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
    return SpawnResult(proc.returncode if not timed_out else -1, out.decode(errors="replace"), timed_out)
