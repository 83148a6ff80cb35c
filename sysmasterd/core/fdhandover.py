"""Listening sockets and fd stores across our own exec when no sysmaster-init keeps them (a user
manager, or sysmasterd run directly), as systemd keeps them on daemon-reexec.

The units report their fds by name exactly as they do to init (the FdHolder protocol of
core/runtime.py, "socket:<unit>" / "fdstore:<unit>"), but nothing is copied: the holder only
remembers which of the core's own fds belong to whom. Right before the exec those lose
FD_CLOEXEC and their numbers go into the environment; the new image hands them out through the
same take_fds() the units call after a core restart under init, and closes what nobody claims.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import MutableMapping

EXEC_FDS_ENV = "SYSMASTER_EXEC_FDS"


class ExecFdHandover:
    def __init__(self, inherited: dict[str, list[int]]) -> None:
        self._inherited = inherited  # from the image before us, until a unit takes them
        self._held: dict[str, list[int]] = {}  # what the units hold now, for the image after us

    @classmethod
    def from_environ(cls, *environs: MutableMapping[str, str]) -> ExecFdHandover:
        """The map the previous image left, removed from every environment given (services must
        not see it)."""
        raw = None
        for env in environs:
            raw = env.pop(EXEC_FDS_ENV, None) or raw
        return cls(_parse(raw) if raw else {})

    # -- the FdHolder protocol ------------------------------------------------------------------

    def take_fds(self, name: str) -> list[int]:
        fds = self._inherited.pop(name, [])
        if fds:  # the unit owns them now and tells no one again: they go on to the next image
            self._held[name] = list(fds)
        return fds

    def store_fds(self, name: str, fds: list[int]) -> None:
        self._held[name] = list(fds)

    def remove_fds(self, name: str) -> None:
        self._held.pop(name, None)

    # -- around the exec ------------------------------------------------------------------------

    def drop_unclaimed(self, prefix: str = "") -> None:
        """After the restore: fds of units that no longer hold any are closed."""
        for name in [n for n in self._inherited if n.startswith(prefix)]:
            for fd in self._inherited.pop(name):
                with contextlib.suppress(OSError):
                    os.close(fd)

    def pass_on(self, environ: MutableMapping[str, str]) -> None:
        """Right before the exec: what the units hold survives it, named in ``environ``."""
        kept: dict[str, list[int]] = {}
        for name, fds in self._held.items():
            try:
                for fd in fds:
                    os.set_inheritable(fd, True)
            except OSError:
                continue  # closed behind our back: the new core opens that unit's fds anew
            kept[name] = fds
        environ[EXEC_FDS_ENV] = json.dumps(kept, separators=(",", ":"))


def _parse(raw: str) -> dict[str, list[int]]:
    try:
        data = json.loads(raw)
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): [int(fd) for fd in v if isinstance(fd, int) and fd > 2]
            for k, v in data.items() if isinstance(v, list)}
