"""Transient units: units that clients create at run time (StartTransientUnit), as systemd 252 does.

A transient unit is a unit file the manager writes to the scope's transient directory
(/run/systemd/transient, $XDG_RUNTIME_DIR/systemd/transient) and then loads like any other, so
daemon-reload and a restarted core find it again; the file goes when the unit is collected.
What a file cannot hold lives here, in memory: the references clients hold (AddRef=, which keep
the unit from being collected until the client is gone), the PIDs a new scope starts with, and the
descriptors a service was handed for its stdio (systemd-run --pipe, --pty). Those last outlive
a core restart as systemd's serialization carries them: kept by sysmaster-init (or, across a
daemon-reexec without it, by our own fds), one `stdio:<fd>:<unit>` set per descriptor.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import os
import shutil
import tempfile
from typing import TYPE_CHECKING

from sysmasterd.core import errors
from sysmasterd.core.states import LoadState

if TYPE_CHECKING:
    from sysmasterd.core.manager import Manager
    from sysmasterd.core.unit import Unit


STDIO_PREFIX = "stdio:"


class TransientUnits:
    def __init__(self, manager: Manager) -> None:
        self.m = manager
        self.directory = manager.loader.paths.transient_dir
        # Client references per unit id: a bus name or a private connection (any hashable token).
        self.refs: dict[str, set[object]] = {}
        self.start_pids: dict[str, list[int]] = {}
        # Unit id -> {0, 1, 2: our copy of the client's descriptor}.
        self.stdio: dict[str, dict[int, int]] = {}
        self._lead_search_path()

    def _lead_search_path(self) -> None:
        """The transient directory comes first in any search path: systemd carries transient units
        across daemon-reload by its serialization, we by their files, which must then be found even
        under an explicit --unit-path."""
        paths = self.m.loader.paths
        if self.directory is None or self.directory in paths.search_path:
            return
        self.m.loader.paths = dataclasses.replace(paths, search_path=(self.directory, *paths.search_path))
        self.m.loader.rescan()

    # -- creation ----------------------------------------------------------------------------------

    def check_pristine(self, name: str) -> None:
        """systemd's unit_is_pristine(): only a name nothing was loaded for may become transient."""
        u = self.m.get_unit(name)
        if u is None:
            return
        if (u.load_state not in (LoadState.NOT_FOUND, LoadState.LOADED, LoadState.STUB) or u.fragment_path
                or u.source_path or u.dropin_paths or u.job is not None or u.id != name):
            raise errors.UnitExists(f"Unit {name} was already loaded or has a fragment file.")

    def write(self, name: str, text: str) -> str:
        if self.directory is None:
            raise errors.ManagerError("Transient units need a runtime directory ($XDG_RUNTIME_DIR unset).")
        os.makedirs(self.directory, mode=0o755, exist_ok=True)
        path = os.path.join(self.directory, name)
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".#" + name)
        try:
            with os.fdopen(fd, "w") as f:
                f.write(text)
            os.chmod(tmp, 0o644)
            os.rename(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return path

    def load(self, name: str) -> Unit:
        """Load the unit from its freshly written file; a refused file is removed again."""
        u = self.m.load_fresh(name)
        if u.load_state is not LoadState.LOADED:
            # What systemd's bus_unit_validate_load_state() answers for the state it loaded in.
            error: type[errors.ManagerError] = (errors.BadUnitSetting if u.load_state is LoadState.BAD_SETTING
                                                else errors.LoadFailed)
            reason = u.load_error or f"Unit {name} failed to load."
            self.discard(name)
            u.load_state = LoadState.NOT_FOUND
            raise error(reason)
        return u

    def discard(self, name: str) -> None:
        """The unit is gone (collected, or its creation failed): its file, drop-ins and what we held."""
        self.refs.pop(name, None)
        self.start_pids.pop(name, None)
        self.release_stdio(name)
        if self.directory is None:
            return
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(self.directory, name))
        shutil.rmtree(os.path.join(self.directory, name + ".d"), ignore_errors=True)
        self.m.rescan_unit_files()

    def is_transient_file(self, path: str) -> bool:
        return self.directory is not None and os.path.dirname(path) == self.directory

    # -- stdio descriptors -------------------------------------------------------------------------

    def keep_stdio(self, u: Unit, fds: dict[int, int]) -> None:
        """Copies of the call's descriptors, above stdio so that the child's dup2() onto 0-2
        never clobbers one still to be placed (systemd's F_DUPFD_CLOEXEC from 3)."""
        self.release_stdio(u.id)
        self.stdio[u.id] = {target: fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3) for target, fd in fds.items()}
        holder = self.m.runtime.fd_holder
        if holder is not None:
            for target, fd in self.stdio[u.id].items():
                holder.store_fds(_holder_name(target, u.id), [fd])

    def release_stdio(self, uid: str) -> None:
        """Closed once the service is inactive with no job (systemd's service_release_resources()):
        a client reading the service's output through them sees its end then."""
        holder = self.m.runtime.fd_holder
        for target, fd in self.stdio.pop(uid, {}).items():
            if holder is not None:
                holder.remove_fds(_holder_name(target, uid))
            with contextlib.suppress(OSError):
                os.close(fd)

    def adopt_stdio(self) -> None:
        """After a core restart: the descriptors the previous core kept for transient services."""
        holder = self.m.runtime.fd_holder
        if holder is None:
            return
        for u in {u for u in self.m.units.values() if u.transient}:
            for target in (0, 1, 2):
                fds = holder.take_fds(_holder_name(target, u.id))
                if fds:
                    self.stdio.setdefault(u.id, {})[target] = fds[0]

    # -- references --------------------------------------------------------------------------------

    def ref(self, u: Unit, token: object) -> None:
        self.refs.setdefault(u.id, set()).add(token)

    def unref(self, u: Unit, token: object) -> None:
        held = self.refs.get(u.id)
        if held is not None and token in held:
            held.discard(token)
            if not held:
                del self.refs[u.id]
            self.m.schedule_gc(u)

    def release(self, token: object) -> None:
        """A client went away: every reference it held goes."""
        for uid in [uid for uid, held in self.refs.items() if token in held]:
            u = self.m.get_unit(uid)
            if u is not None:
                self.unref(u, token)
            else:
                self.refs[uid].discard(token)

    def pinned(self, u: Unit) -> bool:
        return bool(self.refs.get(u.id))

    def collected(self, u: Unit) -> None:
        if u.transient:
            self.discard(u.id)


def _holder_name(target: int, uid: str) -> str:
    return f"{STDIO_PREFIX}{target}:{uid}"
