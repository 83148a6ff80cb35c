"""A client process whose stdout/stderr are pipes (systemd-run --pipe), waited for and read, and
killed by PID if the test fails first."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def reaped(proc: subprocess.Popen[str]) -> Iterator[subprocess.Popen[str]]:
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def output_when_done(proc: subprocess.Popen[str], timeout: float, why: Callable[[], str]) -> tuple[str, str]:
    """Its exit (which must be 0, else `why()` says what happened), then all it wrote. Not
    communicate(): on a timeout the service, not the client, may hold the pipes."""
    assert proc.wait(timeout=timeout) == 0, why()
    assert proc.stdout is not None and proc.stderr is not None
    return proc.stdout.read(), proc.stderr.read()
