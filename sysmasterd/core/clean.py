"""`systemctl clean --what=`: removing a unit's RuntimeDirectory=, StateDirectory=, CacheDirectory=,
LogsDirectory= and ConfigurationDirectory= (systemd's unit_clean() and
exec_context_get_clean_directories(): each directory, its private/ twin but for configuration,
for an inactive unit with no job; services only, as far as sysmasterd implements it)."""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING

from compat.model import UnitKind
from sysmasterd.core.execute import directory_settings
from sysmasterd.core.states import ActiveState, LoadState

if TYPE_CHECKING:
    from sysmasterd.core.unit import Unit

KINDS = ("runtime", "state", "cache", "logs", "configuration")
CLEANABLE = (UnitKind.SERVICE,)


class CleanError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  # "unsupported", "nothing", "busy"


def can_clean(u: Unit) -> list[str]:
    """CanClean: the kinds the unit has directories of."""
    if u.kind not in CLEANABLE or u.config is None:
        return []
    return [kind for kind, (paths, _mode) in directory_settings(u.config.exec).items() if paths]


def directories(u: Unit, kinds: set[str]) -> list[str]:
    assert u.config is not None
    bases = u.manager.runtime.directory_bases()
    out = []
    for kind, (paths, _mode) in directory_settings(u.config.exec).items():
        base = bases.get(kind)
        if kind not in kinds or not base:
            continue
        for p in paths:
            out.append(os.path.join(base, p))
            if kind != "configuration":
                out.append(os.path.join(base, "private", p))
    return out


async def clean(u: Unit, kinds: set[str]) -> None:
    if u.kind not in CLEANABLE:
        raise CleanError("unsupported")
    if not kinds:
        raise CleanError("nothing")
    if u.load_state is not LoadState.LOADED or u.job is not None or u.active_state is not ActiveState.INACTIVE:
        raise CleanError("busy")
    paths = directories(u, kinds)
    if not paths:
        raise CleanError("nothing")
    # A child does the removal, as systemd forks for it: a large tree does not hold the loop.
    proc = await asyncio.create_subprocess_exec("rm", "-rf", "--", *paths)
    await proc.wait()
    # What is left, not the exit status: the manager's reaper may collect the child first.
    if any(os.path.lexists(p) for p in paths):
        u.manager.log.warning("%s: cleaning %s failed", u.id, " ".join(paths))
