"""The cgroup v2 freezer for units (systemd's unit_freezer_action / unit_cgroup_freezer_action).

A unit can be frozen where its cgroup lives on a cgroup v2 hierarchy with `cgroup.freeze` (on a
hybrid host that is the "unified" mount, where we track units); elsewhere freezing is not
supported, as systemd says on such a system. Which state a unit is in is read from the kernel
(`frozen` in cgroup.events), so it survives a restart of the manager; a freeze or thaw is done
once the kernel reports it. Slices freeze their own cgroup, which the kernel applies to all
below; thawing a unit thaws the slices above it first, as systemd does.
"""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING

from compat.model import UnitKind
from sysmasterd.core.states import ActiveState, LoadState

if TYPE_CHECKING:
    from sysmasterd.core.unit import Unit

FREEZABLE = (UnitKind.SERVICE, UnitKind.SCOPE, UnitKind.SLICE)
_NEVER_FROZEN = ("-.slice", "init.scope")
_SETTLE_TIMEOUT = 5.0


class FreezerError(Exception):
    """Why a freeze or thaw is refused: systemd's errno for it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  # "unsupported", "busy", "inactive", "in-progress", "denied"


def cgroup_dir(u: Unit) -> str | None:
    """The unit's cgroup directory when it is on a v2 hierarchy with a freezer, else None."""
    cgroups = u.manager.cgroups
    if cgroups is None or cgroups.root.mode != "v2":
        return None
    return cgroups.unit_dir(u.id)


def supported(u: Unit) -> bool:
    cgroups = u.manager.cgroups
    if u.kind not in FREEZABLE or cgroups is None or cgroups.root.mode != "v2":
        return False
    # Our own subtree's root has the file exactly when the kernel has a v2 freezer (5.2+).
    return os.path.exists(os.path.join(cgroups.root.mount + cgroups.root.base, "cgroup.freeze"))


def frozen(directory: str) -> bool:
    try:
        with open(os.path.join(directory, "cgroup.events")) as f:
            return any(line.split() == ["frozen", "1"] for line in f)
    except OSError:
        return False


def state(u: Unit) -> str:
    """FreezerState: what the kernel says of the unit's cgroup."""
    directory = cgroup_dir(u)
    return "frozen" if directory is not None and frozen(directory) else "running"


def _write(directory: str, freeze: bool) -> None:
    with open(os.path.join(directory, "cgroup.freeze"), "w") as f:
        f.write("1" if freeze else "0")


def _slices_above(u: Unit) -> list[Unit]:
    out = []
    name = u.slice_name()
    while name:
        s = u.manager.get_unit(name)
        if s is None:
            break
        out.append(s)
        name = s.slice_name()
    return out


def check(u: Unit) -> None:
    """systemd's checks before a freeze or thaw, in its order."""
    if not supported(u):
        raise FreezerError("unsupported")
    if u.job is not None:
        raise FreezerError("busy")
    if u.load_state is not LoadState.LOADED or u.active_state is not ActiveState.ACTIVE:
        raise FreezerError("inactive")
    if u.id in _NEVER_FROZEN:
        raise FreezerError("denied")
    directory = cgroup_dir(u)
    if directory is None or not os.path.isdir(directory):
        raise FreezerError("busy")  # no cgroup realized: systemd's -EBUSY


async def freeze(u: Unit, want: bool) -> None:
    """Freeze (want=True) or thaw the unit's cgroup and wait until the kernel reports it."""
    check(u)
    directory = cgroup_dir(u)
    assert directory is not None
    targets = [directory]
    if not want:  # a frozen slice above keeps us frozen: thaw from the top down
        targets = [d for s in reversed(_slices_above(u)) if (d := cgroup_dir(s)) and frozen(d)] + targets
    for d in targets:
        _write(d, want)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _SETTLE_TIMEOUT
    while frozen(directory) != want and loop.time() < deadline:
        await asyncio.sleep(0.01)


def thaw_for_job(u: Unit) -> None:
    """Before start, stop and reload: a frozen unit is thawed first (systemd's unit_start() etc.)."""
    directory = cgroup_dir(u)
    if directory is None or u.kind not in FREEZABLE or not frozen(directory):
        return
    for d in [*(cgroup_dir(s) for s in reversed(_slices_above(u))), directory]:
        if d is not None and frozen(d):
            try:
                _write(d, False)
            except OSError as e:
                u.manager.log.warning("%s: failed to thaw %s: %s", u.id, d, e)
