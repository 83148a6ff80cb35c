"""The manager observer that turns model events into D-Bus signals.

As systemd: every peer of the private socket gets unit and manager signals (it subscribed by
connecting), the bus only while some client there called Subscribe; job signals go everywhere,
since the client waiting for JobRemoved (systemctl start) never subscribed.

Unit signals wait in a per-connection outbox (sysmasterd.bus.outbox): coalesced per object, built
when sent, held back while the peer's output queue is long. A flood of on-demand loads or a peer
that does not read costs memory bounded by the number of units, and never a dropped connection.
PropertiesChanged is coalesced per object to one signal per event-loop turn as well: a start moves a
unit through several states within one callback chain, and clients only need the final values.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from functools import partial
from typing import TYPE_CHECKING, Any

from dbus_fast import Message

from sysmasterd.bus.outbox import Outbox
from sysmasterd.bus.paths import MANAGER_PATH, unit_path
from sysmasterd.bus.subscriptions import Subscriptions
from sysmasterd.core.events import NullObserver
from sysmasterd.core.states import LoadState

if TYPE_CHECKING:
    from sysmasterd.bus.connection import Connection
    from sysmasterd.bus.iface import Interface
    from sysmasterd.core.job import Job
    from sysmasterd.core.manager import Manager
    from sysmasterd.core.unit import Unit

MANAGER_IFACE = "org.freedesktop.systemd1.Manager"
PROPERTIES_IFACE = "org.freedesktop.DBus.Properties"


class SignalEmitter(NullObserver):
    def __init__(
        self,
        manager: Manager,
        subscriptions: Subscriptions,
        connections: Callable[[], Iterable[Connection]],
        unit_interfaces: Callable[[Unit], list[Interface]],
        job_interface: Interface,
    ) -> None:
        self._manager = manager
        self._subscriptions = subscriptions
        self._connections = connections
        self._unit_interfaces = unit_interfaces
        self._job_interface = job_interface
        self._dirty_units: dict[str, Unit] = {}
        self._dirty_jobs: dict[int, Job] = {}
        self._flush_scheduled = False
        self._outboxes: dict[Connection, Outbox] = {}

    # --- where signals go --------------------------------------------------------------------

    def _targets(self, always: bool = False) -> Iterable[Connection]:
        for conn in self._connections():
            if conn.is_closed or (conn.is_bus and not always and not self._subscriptions):
                continue
            yield conn

    def _outbox(self, conn: Connection) -> Outbox:
        box = self._outboxes.get(conn)
        if box is None:
            box = self._outboxes[conn] = Outbox(conn)
            conn.closed.add_done_callback(lambda _: self._outboxes.pop(conn, None))
        return box

    def outbox_sizes(self) -> dict[str, int]:
        """Signals waiting, by connection (for tests and the debug log)."""
        return {conn.label: len(box) for conn, box in self._outboxes.items()}

    def _send(self, path: str, interface: str, member: str, signature: str, body: list[Any],
              always: bool = False) -> None:
        for conn in self._targets(always):
            conn.send(Message.new_signal(path, interface, member, signature, body))

    def _manager_signal(self, member: str, signature: str = "", body: list[Any] | None = None,
                        always: bool = False) -> None:
        self._send(MANAGER_PATH, MANAGER_IFACE, member, signature, body or [], always)

    # --- ManagerObserver ---------------------------------------------------------------------

    def unit_new(self, unit: Unit) -> None:
        name, path = unit.id, unit_path(unit.id)

        def build() -> list[Message]:
            return [Message.new_signal(MANAGER_PATH, MANAGER_IFACE, "UnitNew", "so", [name, path])]

        for conn in self._targets():
            box = self._outbox(conn)
            # Removed and back before the peer heard of the removal: for it, nothing happened.
            if not box.discard(("removed", name)):
                box.put(("new", name), build)

    def unit_removed(self, unit: Unit) -> None:
        changed = self._dirty_units.pop(unit.id, None) is not None
        name, path = unit.id, unit_path(unit.id)

        def build() -> list[Message]:
            return [Message.new_signal(MANAGER_PATH, MANAGER_IFACE, "UnitRemoved", "so", [name, path])]

        for conn in self._targets():
            box = self._outbox(conn)
            pending = box.discard(("props", path))
            # Collected before the peer heard of it: a name only looked up (never loaded) or a
            # unit that did not change needs neither signal. A loaded one that changed (a
            # transient unit that ran and was collected at once) gets UnitNew, still waiting,
            # then its changes, then UnitRemoved, as systemd's bus_unit_send_removed_signal().
            told = changed or pending
            if (not told or unit.load_state is not LoadState.LOADED) and box.discard(("new", name)):
                continue
            if changed or pending:
                # The values it ended with go before UnitRemoved, as systemd sends a unit's pending
                # change signal when freeing it (bus_unit_send_removed_signal): pystemd.run(wait=True)
                # of a unit collected as it ends (CollectMode=inactive-or-failed) waits for that
                # SubState. Built from this unit object, which is no longer the manager's; under its
                # own key, so that a unit loaded again under the name has its changes told apart.
                box.replace(("final", path), partial(self._unit_messages, unit))
            box.replace(("removed", name), build)

    def unit_changed(self, unit: Unit) -> None:
        self._dirty_units[unit.id] = unit
        self._schedule()

    def job_new(self, job: Job) -> None:
        self._manager_signal("JobNew", "uos", [job.id, job.path, job.unit.id], always=True)

    def job_changed(self, job: Job) -> None:
        self._dirty_jobs[job.id] = job
        self._schedule()

    def job_removed(self, job: Job) -> None:
        # Pending property changes of the unit go first: a client woken by JobRemoved then reads
        # the unit's final state, as with systemd.
        self._dirty_jobs.pop(job.id, None)
        self.flush()
        upath = unit_path(job.unit.id)
        for box in list(self._outboxes.values()):
            box.discard(("props", job.path))
            box.send_now(("props", upath))
        result = job.result.value if job.result is not None else "done"
        self._manager_signal("JobRemoved", "uoss", [job.id, job.path, job.unit.id, result], always=True)

    def startup_finished(self) -> None:
        # firmware, loader, kernel, initrd, userspace, total: we only know userspace.
        userspace = max(0, self._manager.ts["finish"].monotonic - self._manager.ts["startup"].monotonic)
        self._manager_signal("StartupFinished", "tttttt", [0, 0, 0, 0, userspace, userspace])

    def reloading(self, active: bool) -> None:
        self._manager_signal("Reloading", "b", [active])

    def unit_files_changed(self) -> None:
        self._manager_signal("UnitFilesChanged")

    # --- coalesced PropertiesChanged ---------------------------------------------------------

    def _schedule(self) -> None:
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        """Hand the objects changed during this loop turn to each connection's outbox."""
        self._flush_scheduled = False
        units, self._dirty_units = self._dirty_units, {}
        jobs, self._dirty_jobs = self._dirty_jobs, {}
        boxes = [self._outbox(conn) for conn in self._targets()]
        if not boxes:
            return
        for unit in units.values():
            build = self._unit_changes(unit.id)
            for box in boxes:
                box.put(("props", unit_path(unit.id)), build)
        for job in jobs.values():
            build = self._job_changes(job)
            for box in boxes:
                box.put(("props", job.path), build)

    def _unit_changes(self, name: str) -> Callable[[], list[Message]]:
        def build() -> list[Message]:
            # The unit as it is when the signal goes out (collected meanwhile: nothing to say).
            unit = self._manager.units.get(name)
            if unit is None or unit.id != name:
                return []
            return self._unit_messages(unit)
        return build

    def _unit_messages(self, unit: Unit) -> list[Message]:
        path = unit_path(unit.id)
        return [m for iface in self._unit_interfaces(unit)
                if (m := self._properties_changed(path, iface, unit)) is not None]

    def _job_changes(self, job: Job) -> Callable[[], list[Message]]:
        def build() -> list[Message]:
            m = self._properties_changed(job.path, self._job_interface, job)
            return [m] if m is not None else []
        return build

    @staticmethod
    def _properties_changed(path: str, iface: Interface, target: Any) -> Message | None:
        if not iface.emitting and not iface.invalidating:
            return None
        return Message.new_signal(path, PROPERTIES_IFACE, "PropertiesChanged", "sa{sv}as",
                                  [iface.name, iface.changed(target), iface.invalidating])
