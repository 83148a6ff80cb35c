"""Manager methods that find a unit by what a process knows about itself: its invocation ID
($INVOCATION_ID) or its control group (/proc/self/cgroup), as systemd 252 answers them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sysmasterd.bus import errors
from sysmasterd.bus.context_props import control_group
from sysmasterd.bus.iface import method
from sysmasterd.bus.paths import UNIT_PREFIX, escape_label, unit_path

if TYPE_CHECKING:
    from sysmasterd.bus.router import Call
    from sysmasterd.core.manager import Manager
    from sysmasterd.core.unit import Unit

NO_UNIT_FOR_INVOCATION_ID = errors.PREFIX + "NoUnitForInvocationID"
NO_SUCH_DYNAMIC_USER = errors.PREFIX + "NoSuchDynamicUser"


def invocation_path(u: Unit) -> str:
    """The unit's object path by invocation ID: valid only as long as that invocation."""
    return UNIT_PREFIX + escape_label(u.invocation_id.hex())


def unit_by_invocation_id(m: Manager, invocation: bytes) -> Unit | None:
    for u in m.units_by_id().values():
        if u.invocation_id == invocation:
            return u
    return None


class LookupMethods:
    """Mixed into the Manager interface."""

    @method("GetUnitByInvocationID")
    def get_unit_by_invocation_id(self, call: Call, m: Manager, invocation: bytes) -> str:
        if len(invocation) not in (0, 16):
            raise errors.invalid_args("Invalid invocation ID")
        if not invocation.strip(b"\0"):  # none given: the caller's own unit
            pid = call.conn.peer_pid or 0
            u = m.runtime.unit_of_pid(pid) if pid else None
            if u is None:
                raise errors.bus_error(errors.NO_SUCH_UNIT, f"Client {pid} not member of any unit.")
            return invocation_path(u) if u.invocation_id else unit_path(u.id)
        found = unit_by_invocation_id(m, bytes(invocation))
        if found is None:
            raise errors.bus_error(NO_UNIT_FOR_INVOCATION_ID,
                                   f"No unit with the specified invocation ID {bytes(invocation).hex()} known.")
        return invocation_path(found)

    @method("GetUnitByControlGroup")
    def get_unit_by_control_group(self, call: Call, m: Manager, cgroup: str) -> str:
        # The unit whose cgroup this is, or the nearest one above it (a unit's sub-cgroups).
        by_cgroup = {cg: u for u in m.units_by_id().values() if (cg := control_group(u))}
        path = cgroup
        while path:
            u = by_cgroup.get(path)
            if u is not None:
                return unit_path(u.id)
            path = path.rpartition("/")[0]
        raise errors.bus_error(errors.NO_SUCH_UNIT,
                               f"Control group '{cgroup}' is not valid or not managed by this instance")

    # The users DynamicUser= allocated (static users a unit merely named are not among them).
    def _dynamic_users(self, m: Manager) -> dict[str, int]:
        if not m.is_system:
            raise errors.bus_error(errors.NOT_SUPPORTED, "Dynamic users are only supported in the system instance.")
        return m.runtime.dynamic_users.allocated()

    @method("GetDynamicUsers")
    def get_dynamic_users(self, call: Call, m: Manager) -> list[list[object]]:
        return [[uid, name] for name, uid in sorted(self._dynamic_users(m).items())]

    @method("LookupDynamicUserByName")
    def lookup_dynamic_user_by_name(self, call: Call, m: Manager, name: str) -> int:
        uid = self._dynamic_users(m).get(name)
        if uid is None:
            raise errors.bus_error(NO_SUCH_DYNAMIC_USER, f"Dynamic user {name} does not exist.")
        return uid

    @method("LookupDynamicUserByUID")
    def lookup_dynamic_user_by_uid(self, call: Call, m: Manager, uid: int) -> str:
        users = self._dynamic_users(m)
        if uid in (0xFFFFFFFF, 0xFFFF):
            raise errors.invalid_args(f"User ID invalid: {uid}")
        for name, held in users.items():
            if held == uid:
                return name
        raise errors.bus_error(NO_SUCH_DYNAMIC_USER, f"Dynamic user ID {uid} does not exist.")
