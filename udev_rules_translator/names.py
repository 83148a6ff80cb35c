"""User and group names of OWNER=/GROUP=, resolved like udevd does at load time."""

from __future__ import annotations

import grp
import pwd
from collections.abc import Callable
from dataclasses import dataclass

Lookup = Callable[[str], int | None]


def _system_user(name: str) -> int | None:
    try:
        return pwd.getpwnam(name).pw_uid
    except (KeyError, ValueError):
        return None


def _system_group(name: str) -> int | None:
    try:
        return grp.getgrnam(name).gr_gid
    except (KeyError, ValueError):
        return None


@dataclass(frozen=True)
class NameResolver:
    """Where OWNER=/GROUP= names come from; tests pass their own tables."""

    user: Lookup = _system_user
    group: Lookup = _system_group
