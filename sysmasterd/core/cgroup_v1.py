"""The v1 controller hierarchies of a hybrid or legacy host (/sys/fs/cgroup/memory, cpu,cpuacct,
pids, blkio, devices): where each is mounted and our subtree in it.

systemd 252 in hybrid mode tracks units on cgroup2 and duplicates a unit's cgroup in each v1
hierarchy whose controller it needs. Our subtree there is placed as on the tracking hierarchy:
`<own cgroup in that hierarchy>/<instance>` for a manager that is not the scope's real one (a test's
manager works below its own cgroup and nowhere else), else our own cgroup less init.scope.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from sysmasterd.core.cgroup_apply import V1_CONTROLLERS

INIT_SCOPE = "init.scope"


@dataclass(frozen=True)
class Hierarchy:
    mount: str  # /sys/fs/cgroup/memory (one mount may carry several controllers: cpu,cpuacct)
    base: str  # our subtree, relative to the mount

    def dir(self, path: str) -> str:
        """The directory of a cgroup given relative to our subtree ("" is the subtree itself)."""
        top = self.base.rstrip("/")
        return self.mount + (f"{top}/{path}" if path else top or "/")


def _unescape(field: str) -> str:
    """mountinfo's octal escapes (\\040 for a space)."""
    out, i = [], 0
    while i < len(field):
        code = field[i + 1:i + 4]
        if field[i] == "\\" and len(code) == 3 and code.isdigit():
            out.append(chr(int(code, 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def _mounts() -> dict[str, str]:
    """Controller -> mount point of each v1 hierarchy carrying one of systemd's v1 controllers."""
    found: dict[str, str] = {}
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                left, _, right = line.partition(" - ")
                fields, tail = left.split(), right.split()
                if len(fields) < 5 or len(tail) < 3 or tail[0] != "cgroup":
                    continue
                for option in tail[2].split(","):
                    if option in V1_CONTROLLERS:
                        found.setdefault(option, _unescape(fields[4]))
    except OSError:
        pass
    return found


def _own_paths() -> dict[str, str]:
    """Controller -> this process's cgroup in that controller's v1 hierarchy."""
    own: dict[str, str] = {}
    try:
        with open("/proc/self/cgroup") as f:
            for line in f:
                _idx, controllers, path = line.rstrip("\n").split(":", 2)
                for c in controllers.split(","):
                    if c in V1_CONTROLLERS:
                        own[c] = path
    except (OSError, ValueError):
        pass
    return own


def detect(instance: str | None) -> dict[str, Hierarchy]:
    """The writable v1 hierarchies by controller; empty on a pure cgroup2 host."""
    own = _own_paths()
    out: dict[str, Hierarchy] = {}
    for controller, mount in _mounts().items():
        path = own.get(controller)
        if path is None or not os.access(mount + path, os.W_OK):
            continue
        base = (path.rstrip("/") + "/" + instance if path != "/" else "/" + instance) if instance else (
            path.removesuffix("/" + INIT_SCOPE) or "/")
        out[controller] = Hierarchy(mount, base)
    return out
