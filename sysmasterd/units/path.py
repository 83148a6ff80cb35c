"""Path units: start a unit when a file appears, changes or a directory fills (systemd's path.c).

States and results are systemd's (dead/waiting/running/failed). While waiting, each path setting
has an inotify instance watching the path, or its nearest existing ancestor so that its creation
is seen; any event re-checks the settings and re-arms the watches from scratch, as systemd's
path_spec_watch() does. While the triggered unit runs nothing is watched; when it stops (trigger
notify), the settings are checked again: a file that still exists triggers again.

Watches are not serialized: after a daemon-reload or a core restart they are made anew and the
settings re-checked (systemd's coldplug). That re-check counts as the initial one, as in systemd:
a file that appeared while no core ran fires PathExists= and friends, but is no PathChanged= event.
"""

from __future__ import annotations

import enum
import errno
import glob
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from compat.config_path import PathKind, PathSection, PathSpec, trigger_limit, trigger_unit
from compat.model import UnitKind
from sysmasterd.core.dependency import Dep
from sysmasterd.core.generators import hidden_or_backup_file
from sysmasterd.core.inotify import (
    IN_ATTRIB,
    IN_CLOSE_WRITE,
    IN_CREATE,
    IN_DELETE,
    IN_DELETE_SELF,
    IN_DONT_FOLLOW,
    IN_MODIFY,
    IN_MOVE_SELF,
    IN_MOVED_FROM,
    IN_MOVED_TO,
    Inotify,
)
from sysmasterd.core.ratelimit import RateLimit
from sysmasterd.core.states import ActiveState
from sysmasterd.core.unittype import OpResult, TypeDescriptor
from sysmasterd.units.target import SHUTDOWN_TARGET
from sysmasterd.units.triggering import TriggeringType, hit_start_limit, stop_pending

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Callable

    from sysmasterd.core.unit import Unit

PATHS_TARGET = "paths.target"
SYSINIT_TARGET = "sysinit.target"


class PathState(enum.Enum):
    DEAD = "dead"
    WAITING = "waiting"
    RUNNING = "running"
    FAILED = "failed"


class PathResult(enum.Enum):
    SUCCESS = "success"
    RESOURCES = "resources"
    START_LIMIT_HIT = "start-limit-hit"
    UNIT_START_LIMIT_HIT = "unit-start-limit-hit"
    TRIGGER_LIMIT_HIT = "trigger-limit-hit"


_ACTIVE_STATE = {PathState.DEAD: ActiveState.INACTIVE, PathState.WAITING: ActiveState.ACTIVE,
                 PathState.RUNNING: ActiveState.ACTIVE, PathState.FAILED: ActiveState.FAILED}
_WATCHING = (PathState.WAITING, PathState.RUNNING)

_SELF = IN_DELETE_SELF | IN_MOVE_SELF | IN_ATTRIB
_ENTRIES = IN_CLOSE_WRITE | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO
# What each setting watches on the path itself once it exists (systemd's flags_table) ...
_PATH_MASK = {
    PathKind.EXISTS: _SELF,
    PathKind.EXISTS_GLOB: _SELF,
    PathKind.CHANGED: _SELF | _ENTRIES,
    PathKind.MODIFIED: _SELF | _ENTRIES | IN_MODIFY,
    PathKind.DIRECTORY_NOT_EMPTY: _SELF | IN_CREATE | IN_MOVED_TO,
}
# ... and on the deepest existing ancestor while it does not: the next component appearing.
_ANCESTOR_MASK = IN_MOVE_SELF | IN_DELETE_SELF | IN_CREATE | IN_MOVED_TO


def _prefixes(path: str) -> Iterator[str]:
    """'/a/b' -> '/', '/a', '/a/b' (the path is simplified: no '//', no trailing '/')."""
    yield "/"
    parts = [p for p in path.split("/") if p]
    for i in range(1, len(parts) + 1):
        yield "/" + "/".join(parts[:i])


class _SpecWatch:
    """One path setting's inotify instance: every existing component of the path watched, only
    the deepest one for what matters, the ones above it for being moved away."""

    def __init__(self, spec: PathSpec, loop: asyncio.AbstractEventLoop, on_event: Callable[[_SpecWatch], None]) \
            -> None:
        self.spec = spec
        self.primary_wd = -1
        self._loop = loop
        self.inotify = Inotify()
        try:
            self._add_watches()
            loop.add_reader(self.inotify.fileno(), on_event, self)
        except BaseException:
            self.inotify.close()
            raise

    def _add_watches(self) -> None:
        components = list(_prefixes(self.spec.path))
        above: str | None = None
        for i, component in enumerate(components):
            last = i == len(components) - 1
            mask = _PATH_MASK[self.spec.kind] if last else _ANCESTOR_MASK
            try:
                # A symlink: watch the link itself and what it points to (the same inode otherwise).
                self.inotify.add_watch(component, mask | IN_DONT_FOLLOW)
                wd = self.inotify.add_watch(component, mask)
            except OSError as e:
                if e.errno in (errno.ENOENT, errno.EACCES):
                    break  # watched as far as it exists: its parent's IN_CREATE tells the rest
                raise
            if above is not None:
                try:
                    self.inotify.add_watch(above, IN_MOVE_SELF)  # this one exists: the parent's
                except OSError:  # entries matter no more; spurious events are harmless
                    pass
            above = component
            if last:
                self.primary_wd = wd
        if above is None:
            raise OSError(errno.ENOENT, f"Failed to add watch on any of the components of {self.spec.path}")

    def close(self) -> None:
        if self.inotify.fd >= 0:
            self._loop.remove_reader(self.inotify.fd)
            self.inotify.close()


def _directory_not_empty(path: str) -> bool:
    """dir_is_empty() with hidden and backup files ignored; unreadable counts as not empty."""
    try:
        with os.scandir(path) as it:
            return any(not hidden_or_backup_file(e.name) for e in it)
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError:
        return True


def _mkdir_p(path: str, mode: int) -> None:
    """Every missing component with the mode (mkdir_p(), unlike os.makedirs for the parents)."""
    for component in _prefixes(path):
        try:
            os.mkdir(component, mode)
        except FileExistsError:
            pass


class Path(TriggeringType[PathState, PathResult]):
    ACTIVE_STATE = _ACTIVE_STATE

    def __init__(self, unit: Unit) -> None:
        super().__init__(unit, PathState, PathResult)
        self.watches: list[_SpecWatch] = []
        # PathChanged=/PathModified=: whether the path existed when last checked, per setting.
        self.previous_exists: dict[PathSpec, bool] = {}
        self.trigger_limit = RateLimit()
        self.trigger_path = ""  # what fired last ("Got triggered by")
        self._deferred: asyncio.Handle | None = None
        self._coldplug_handle: asyncio.Handle | None = None

    # -- configuration ---------------------------------------------------------------------------

    @property
    def cfg(self) -> PathSection:
        c = self.unit.config
        return c.path if c is not None and c.path is not None else PathSection()

    def trigger_name(self) -> str | None:
        c = self.unit.config
        return trigger_unit(c) if c is not None and c.path is not None else None

    def triggered(self) -> Unit | None:
        name = self.trigger_name()
        return self.unit.manager.get_unit(name) if name else None

    # -- UnitType --------------------------------------------------------------------------------

    def add_implicit_dependencies(self) -> None:
        m, u = self.unit.manager, self.unit
        name = self.trigger_name()
        if name:
            m.add_dependency(u, Dep.BEFORE, name)
            m.add_dependency(u, Dep.TRIGGERS, name)
        if self.state in _WATCHING:
            # Reloaded while watching: the settings may have changed; systemd's coldplug after a
            # daemon-reload re-creates the watches and checks again.
            self._schedule_coldplug()

    def add_default_dependencies(self) -> None:
        m, u = self.unit.manager, self.unit
        m.add_dependency(u, Dep.BEFORE, PATHS_TARGET)
        if m.is_system:
            m.add_dependency(u, Dep.AFTER, SYSINIT_TARGET)
            m.add_dependency(u, Dep.REQUIRES, SYSINIT_TARGET)
        m.add_dependency(u, Dep.BEFORE, SHUTDOWN_TARGET)
        m.add_dependency(u, Dep.CONFLICTS, SHUTDOWN_TARGET)

    def start(self) -> OpResult:
        u = self.unit
        if not self._trigger_loaded(self.triggered()):
            return OpResult.FAILED
        if self._refuse_start_limit():
            return OpResult.FAILED
        u.new_invocation()
        if self.cfg.make_directory:
            for spec in self.cfg.specs:
                if spec.kind not in (PathKind.EXISTS, PathKind.EXISTS_GLOB):
                    try:
                        _mkdir_p(spec.path, self.cfg.directory_mode)
                    except OSError as e:
                        u.manager.log.warning("%s: mkdir(%s) failed: %s", u.id, spec.path, e.strerror)
        self._result = PathResult.SUCCESS
        self._enter_waiting(initial=True, from_trigger_notify=False)
        # Failed again at once (the trigger limit): no state change will finish the job.
        return OpResult.FAILED if self.state is PathState.FAILED else OpResult.STARTED

    def trigger_notify(self, triggered: Unit) -> None:
        # Not from here: this runs inside the triggered unit's state change (or job completion),
        # and entering waiting may queue a job for that very unit.
        if self._trigger_changed(triggered, deferred=False) and self._deferred is None:
            self._deferred = self.unit.manager.loop.call_soon(self._on_deferred_notify)

    def _on_deferred_notify(self) -> None:
        self._deferred = None
        trigger = self.triggered()
        if trigger is None:
            if self.state in _WATCHING:
                self._trigger_vanished()
            return
        if self._trigger_changed(trigger, deferred=True):
            self._enter_waiting(initial=False, from_trigger_notify=True)

    def _trigger_changed(self, other: Unit, deferred: bool) -> bool:
        """Whether the triggered unit's new state calls for re-entering waiting (path_trigger_notify)."""
        if self.state not in _WATCHING:
            return False
        if hit_start_limit(other):
            self._enter_dead(PathResult.UNIT_START_LIMIT_HIT)
            return False
        if other.job is not None:
            return False
        down = _inactive_or_deactivating(other.active_state)
        if self.state is PathState.RUNNING and down:
            if not deferred:
                self.unit.manager.log.debug("%s: Got notified about unit deactivation.", self.unit.id)
            return True
        if self.state is PathState.WAITING and not down:
            if not deferred:
                self.unit.manager.log.debug("%s: Got notified about unit activation.", self.unit.id)
            return True
        return False

    # -- the state machine -----------------------------------------------------------------------

    def _set_state(self, state: PathState) -> None:
        old, self.state = self.state, state
        if state not in _WATCHING:
            self._unwatch()
        self._log_change(old)
        self.unit.notify()

    def _enter_dead(self, result: PathResult) -> None:
        if self.succeeded and result is PathResult.SUCCESS:
            self.unit.manager.log.debug("%s: Deactivated successfully.", self.unit.id)
        super()._enter_dead(result)

    def _enter_waiting(self, initial: bool, from_trigger_notify: bool) -> None:
        if self._deferred is not None:
            self._deferred.cancel()
            self._deferred = None
        trigger = self.triggered()
        if trigger is not None and not _inactive_or_deactivating(trigger.active_state):
            self._set_state(PathState.RUNNING)  # the unit already runs, so do we
            self._unwatch()
            return
        fired = self._check_good(initial, from_trigger_notify)
        if fired is not None:
            self._enter_running(fired)
            return
        try:
            self._watch()
        except OSError as e:
            self.unit.manager.log.warning("%s: Failed to enter waiting state: %s", self.unit.id, e.strerror or e)
            self._enter_dead(PathResult.RESOURCES)
            return
        # The path may have come or gone between the check and the watch.
        fired = self._check_good(False, from_trigger_notify)
        if fired is not None:
            self._enter_running(fired)
            return
        self._set_state(PathState.WAITING)

    def _enter_running(self, trigger_path: str) -> None:
        u, m = self.unit, self.unit.manager
        if stop_pending(u):
            return  # going down: start nothing
        self.unit.manager.log.debug("%s: Got triggered by '%s'.", u.id, trigger_path)
        interval, burst = trigger_limit(self.cfg)
        if not self.trigger_limit.below(interval, burst):
            m.log.warning("%s: Trigger limit hit, refusing further activation.", u.id)
            self._enter_dead(PathResult.TRIGGER_LIMIT_HIT)
            return
        if not self._start_triggered(self.triggered()):
            return
        self.trigger_path = trigger_path
        self._set_state(PathState.RUNNING)
        self._unwatch()

    def _check_good(self, initial: bool, from_trigger_notify: bool) -> str | None:
        """The path that makes the unit fire now, if any (path_check_good(): the first setting wins,
        and PathChanged=/PathModified= record existence even when an earlier one fires)."""
        for spec in self.cfg.specs:
            fired = self._spec_good(spec, initial, from_trigger_notify)
            if fired is not None:
                return fired
        return None

    def _spec_good(self, spec: PathSpec, initial: bool, from_trigger_notify: bool) -> str | None:
        kind = spec.kind
        if kind is PathKind.EXISTS:
            return spec.path if os.path.exists(spec.path) else None
        if kind is PathKind.EXISTS_GLOB:
            return next(glob.iglob(spec.path), None)
        if kind is PathKind.DIRECTORY_NOT_EMPTY:
            return spec.path if _directory_not_empty(spec.path) else None
        exists = os.path.exists(spec.path)
        good = not initial and not from_trigger_notify and exists != self.previous_exists.get(spec, False)
        self.previous_exists[spec] = exists
        return spec.path if good else None

    def _watch(self) -> None:
        self._unwatch()
        loop = self.unit.manager.loop
        try:
            for spec in self.cfg.specs:
                self.watches.append(_SpecWatch(spec, loop, self._on_event))
        except OSError:
            self._unwatch()
            raise

    def _unwatch(self) -> None:
        watches, self.watches = self.watches, []
        for w in watches:
            w.close()

    def _on_event(self, watch: _SpecWatch) -> None:
        if self.state not in _WATCHING or watch not in self.watches:
            return
        try:
            events = watch.inotify.read_events()
        except OSError as e:
            self.unit.manager.log.error("%s: Failed to read inotify event: %s", self.unit.id, e.strerror)
            self._enter_dead(PathResult.RESOURCES)
            return
        if watch.spec.kind in (PathKind.CHANGED, PathKind.MODIFIED) and any(
                e.wd == watch.primary_wd for e in events):
            self._enter_running(watch.spec.path)
        else:
            self._enter_waiting(initial=False, from_trigger_notify=False)

    # -- persistence -----------------------------------------------------------------------------

    def serialize(self) -> dict[str, Any]:
        return {
            **self._serialize_state(),
            "previous_exists": [[s.kind.value, s.path, v] for s, v in self.previous_exists.items()],
            "trigger_limit": [self.trigger_limit.begin, self.trigger_limit.num],
            "trigger_path": self.trigger_path,
        }

    def deserialize(self, data: dict[str, Any]) -> None:
        if not self._deserialize_state(data):
            return
        self._unwatch()
        self.previous_exists = {}
        for kind, path, exists in data.get("previous_exists", []):
            try:
                self.previous_exists[PathSpec(PathKind(kind), path)] = bool(exists)
            except ValueError:
                continue
        begin, num = data.get("trigger_limit", [0, 0])
        self.trigger_limit.begin, self.trigger_limit.num = int(begin), int(num)
        self.trigger_path = str(data.get("trigger_path", ""))

    def resume(self) -> bool:
        """After a restore: watch again (inotify instances died with the old core) and check."""
        if self.state not in _WATCHING:
            return False
        self._coldplug()
        return True

    def _schedule_coldplug(self) -> None:
        if self._coldplug_handle is None:
            self._coldplug_handle = self.unit.manager.loop.call_soon(self._coldplug)

    def _coldplug(self) -> None:
        if self._coldplug_handle is not None:
            self._coldplug_handle.cancel()
            self._coldplug_handle = None
        if self.state in _WATCHING:
            self._enter_waiting(initial=True, from_trigger_notify=False)


def _inactive_or_deactivating(state: ActiveState) -> bool:
    return state.is_inactive_or_failed() or state is ActiveState.DEACTIVATING


TYPE = TypeDescriptor(UnitKind.PATH, Path, "org.freedesktop.systemd1.Path")
