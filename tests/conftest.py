"""Every test module must leave the host's cgroup trees as it found them.

The managers under test make cgroups (their instance subtrees, unit cgroups, the v1 controller
copies, nspawn's mirrors); a harness that forgets one leaves it on the host for good. After each
module, new directories at the top of a hierarchy or directly below our own cgroup there are
waited for, removed when empty, and reported as a failure of that module, so that a leak is
fixed where it is made. Deeper levels of other subtrees are not looked at: on a host run by
systemd those change on their own (services starting, sessions opening). Two test runs at once
on one host see each other's cgroups: the check assumes the run has the machine (as CI does)."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator

import pytest

GRACE_SECONDS = 5.0  # a killed process takes a moment to leave its cgroup
OURS = ("sysmaster", "boot-compare")  # managers' instances, oracles, test managers, boot sandboxes


def _hierarchies() -> list[tuple[str, set[str]]]:
    """(mount point, the names /proc/self/cgroup gives it: "" for cgroup2, else its controllers)."""
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fields, tail = left.split(), right.split()
            if len(fields) < 5 or len(tail) < 3:
                continue
            if tail[0] == "cgroup2":
                found.append((fields[4], {""}))
            elif tail[0] == "cgroup":
                found.append((fields[4], set(tail[2].split(","))))
    return found


def _own_paths() -> dict[str, str]:
    """Controller name ("" for cgroup2) -> this process's cgroup."""
    own = {}
    with open("/proc/self/cgroup") as f:
        for line in f:
            _idx, controllers, path = line.rstrip("\n").split(":", 2)
            for c in controllers.split(",") if controllers else [""]:
                own[c] = path
    return own


def _watched() -> set[str]:
    """The directories directly below each hierarchy's root and below our own cgroup in it."""
    own = _own_paths()
    seen: set[str] = set()
    for mount, names in _hierarchies():
        path = next((own[n] for n in names if n in own), "/")
        for parent in {mount, os.path.join(mount, path.lstrip("/"))}:
            with contextlib.suppress(OSError), os.scandir(parent) as it:
                seen |= {e.path for e in it if e.is_dir(follow_symlinks=False)}
    return seen


def _remove_tree(top: str) -> None:
    for dirpath, _dirs, _files in os.walk(top, topdown=False):
        with contextlib.suppress(OSError):
            os.rmdir(dirpath)


@pytest.fixture(autouse=True, scope="module")
def cgroups_left_behind(request: pytest.FixtureRequest) -> Iterator[None]:
    before = _watched()
    yield
    deadline = time.monotonic() + GRACE_SECONDS
    while (new := _watched() - before) and time.monotonic() < deadline:
        time.sleep(0.2)
    if not new:
        return
    for d in sorted(new):
        if os.path.basename(d).startswith(OURS):  # never someone else's: only what our harnesses name
            _remove_tree(d)
    still = sorted(d for d in new if os.path.isdir(d))
    pytest.fail(f"{request.module.__name__} left cgroups behind: {sorted(new)}"
                + (f"; could not remove (processes still in them): {still}" if still else "; removed them"))
