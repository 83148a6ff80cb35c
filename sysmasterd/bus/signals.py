"""The manager observer that turns model events into D-Bus signals on every connection.

PropertiesChanged is coalesced per object to one signal per event-loop turn: a start moves a unit
through several states within one callback chain, and clients only need the final values.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from dbus_fast import Message

from sysmasterd.bus.paths import MANAGER_PATH, unit_path
from sysmasterd.bus.subscriptions import Subscriptions
from sysmasterd.core.events import NullObserver

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

    def _emit(self, path: str, interface: str, member: str, signature: str, body: list[Any],
              always: bool = False) -> None:
        """To every peer; to the bus only while someone is subscribed (or `always`: job signals,
        which systemd sends to the job's requester, who never subscribed)."""
        for conn in self._connections():
            if conn.is_bus and not always and not self._subscriptions:
                continue
            conn.send(Message.new_signal(path, interface, member, signature, body))

    def _manager_signal(self, member: str, signature: str = "", body: list[Any] | None = None,
                        always: bool = False) -> None:
        self._emit(MANAGER_PATH, MANAGER_IFACE, member, signature, body or [], always)

    # --- ManagerObserver ---------------------------------------------------------------------

    def unit_new(self, unit: Unit) -> None:
        self._manager_signal("UnitNew", "so", [unit.id, unit_path(unit.id)])

    def unit_removed(self, unit: Unit) -> None:
        self._dirty_units.pop(unit.id, None)
        self._manager_signal("UnitRemoved", "so", [unit.id, unit_path(unit.id)])

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
        self._flush_scheduled = False
        units, self._dirty_units = self._dirty_units, {}
        jobs, self._dirty_jobs = self._dirty_jobs, {}
        if not any(True for _ in self._connections()):
            return
        for unit in units.values():
            path = unit_path(unit.id)
            for iface in self._unit_interfaces(unit):
                self._properties_changed(path, iface, unit)
        for job in jobs.values():
            self._properties_changed(job.path, self._job_interface, job)

    def _properties_changed(self, path: str, iface: Interface, target: Any) -> None:
        if not iface.emitting and not iface.invalidating:
            return
        self._emit(path, PROPERTIES_IFACE, "PropertiesChanged", "sa{sv}as",
                   [iface.name, iface.changed(target), iface.invalidating])
