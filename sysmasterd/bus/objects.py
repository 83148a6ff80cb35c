"""Which model object an object path names, and which interfaces it answers on."""

from __future__ import annotations

from typing import TYPE_CHECKING

from compat import unitname
from sysmasterd.bus.iface import Interface
from sysmasterd.bus.logcontrol_iface import LOG_PATH
from sysmasterd.bus.lookup_methods import unit_by_invocation_id
from sysmasterd.bus.paths import (
    JOB_PREFIX,
    MANAGER_PATH,
    UNIT_PREFIX,
    escape_label,
    job_id_from_path,
    unescape_label,
    unit_name_from_path,
)
from sysmasterd.bus.router import BusObject
from sysmasterd.core.errors import ManagerError

if TYPE_CHECKING:
    from sysmasterd.core.manager import Manager
    from sysmasterd.core.unit import Unit


class ObjectTree:
    def __init__(
        self,
        manager: Manager,
        manager_iface: Interface,
        unit_iface: Interface,
        type_ifaces: list[Interface],
        job_iface: Interface,
        log_iface: Interface,
    ) -> None:
        self.manager = manager
        self._manager_obj = BusObject(manager, [manager_iface], ("unit", "job"))
        self._unit_iface = unit_iface
        self._type_ifaces = {i.name: i for i in type_ifaces}
        self._job_iface = job_iface
        self._log_obj = BusObject(None, [log_iface])

    def unit_interfaces(self, unit: Unit) -> list[Interface]:
        # systemd lists the type's interface first; `systemctl show` prints in this order.
        name = unit.type.interface
        typed = self._type_ifaces.get(name) if name else None
        return [typed, self._unit_iface] if typed is not None else [self._unit_iface]

    @property
    def job_interface(self) -> Interface:
        return self._job_iface

    def resolve(self, path: str) -> BusObject | None:
        if path == MANAGER_PATH:
            return self._manager_obj
        if path == LOG_PATH:
            return self._log_obj
        if path.startswith(UNIT_PREFIX):
            by_invocation = _invocation_id(path[len(UNIT_PREFIX):])
            if by_invocation is not None:
                u = unit_by_invocation_id(self.manager, by_invocation)
                return BusObject(u, self.unit_interfaces(u)) if u is not None else None
            name = unit_name_from_path(path)
            if name is None or not unitname.is_valid(name):
                return None
            try:
                unit = self.manager.load_unit(name)
            except ManagerError:
                return None
            return BusObject(unit, self.unit_interfaces(unit))
        if path.startswith(JOB_PREFIX):
            job_id = job_id_from_path(path)
            job = self.manager.engine.jobs.get(job_id) if job_id is not None else None
            return BusObject(job, [self._job_iface]) if job is not None else None
        if path == UNIT_PREFIX[:-1]:  # the loaded units, by id (aliases not again), as systemd enumerates
            return BusObject(None, [], tuple(escape_label(uid) for uid in sorted(self.manager.units_by_id())))
        if path == JOB_PREFIX[:-1]:
            return BusObject(None, [], tuple(str(j) for j in sorted(self.manager.engine.jobs)))
        return _PARENTS.get(path)


def _invocation_id(label: str) -> bytes | None:
    """The invocation ID a path label stands for (GetUnitByInvocationID's paths), else None."""
    text = unescape_label(label)
    if text is None or len(text) != 32:
        return None
    try:
        return bytes.fromhex(text)
    except ValueError:
        return None


# The nodes above ours, each with its children, so that `busctl tree` walks down from "/".
_PARENTS = {
    "/": BusObject(None, [], ("org",)),
    "/org": BusObject(None, [], ("freedesktop",)),
    "/org/freedesktop": BusObject(None, [], ("LogControl1", "systemd1")),
}
