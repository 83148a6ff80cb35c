"""Freeze, Thaw and Clean of org.freedesktop.systemd1.Unit and their Manager twins (FreezeUnit,
ThawUnit, CleanUnit), with systemd 252's errors (dbus-unit.c's bus_unit_method_freezer_generic
and bus_unit_method_clean)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from compat import unitname
from sysmasterd.bus import actions, errors
from sysmasterd.bus.iface import method
from sysmasterd.core import clean, freezer

if TYPE_CHECKING:
    from sysmasterd.bus.router import Call
    from sysmasterd.core.manager import Manager
    from sysmasterd.core.unit import Unit

UNIT_BUSY = errors.PREFIX + "UnitBusy"
UNIT_INACTIVE = errors.PREFIX + "UnitInactive"
NOTHING_TO_CLEAN = errors.PREFIX + "NothingToClean"


async def freeze_unit(call: Call, u: Unit, want: bool) -> None:
    await call.authorize(actions.MANAGE_UNITS)
    try:
        await freezer.freeze(u, want)
    except freezer.FreezerError as e:
        raise {
            "unsupported": errors.bus_error(errors.NOT_SUPPORTED, f"Unit '{u.id}' does not support freezing."),
            "busy": errors.bus_error(UNIT_BUSY, "Unit has a pending job."),
            "inactive": errors.bus_error(UNIT_INACTIVE, "Unit is inactive."),
            "denied": errors.bus_error(errors.ACCESS_DENIED, "Operation not permitted"),
        }[e.reason] from None
    except OSError as e:
        raise errors.bus_error(errors.FAILED, f"Failed to {'freeze' if want else 'thaw'} {u.id}: {e.strerror}") \
            from None
    u.notify_changed()


async def clean_unit(call: Call, u: Unit, what: list[str]) -> None:
    kinds: set[str] = set()
    for word in what:
        if word == "all":
            kinds.update(clean.KINDS)
        elif word in clean.KINDS:
            kinds.add(word)
        else:
            raise errors.invalid_args(f"Invalid resource type: {word}")
    await call.authorize(actions.MANAGE_UNITS)
    try:
        await clean.clean(u, kinds)
    except clean.CleanError as e:
        raise {
            "unsupported": errors.bus_error(errors.NOT_SUPPORTED, f"Unit '{u.id}' does not support cleaning."),
            "nothing": errors.bus_error(NOTHING_TO_CLEAN, "No matching resources found."),
            "busy": errors.bus_error(UNIT_BUSY, "Unit is not inactive or has pending job."),
        }[e.reason] from None


class MaintenanceMethods:
    """Mixed into the Manager interface: the by-name versions."""

    @method("FreezeUnit")
    async def freeze_unit_m(self, call: Call, m: Manager, name: str) -> None:
        await freeze_unit(call, _loaded(m, name), True)

    @method("ThawUnit")
    async def thaw_unit_m(self, call: Call, m: Manager, name: str) -> None:
        await freeze_unit(call, _loaded(m, name), False)

    @method("CleanUnit")
    async def clean_unit_m(self, call: Call, m: Manager, name: str, what: list[str]) -> None:
        # Loaded on demand and refused unless it loaded well, as systemd's GENERIC_UNIT_LOAD|VALIDATE_LOADED.
        if not unitname.is_valid(name):
            raise errors.invalid_args(f"Unit name {name} is not valid.")
        u = m.load_unit(name)
        u.check_loaded_for_job()
        await clean_unit(call, u, what)


def _loaded(m: Manager, name: str) -> Unit:
    """A unit already loaded (freezing never loads one)."""
    if not unitname.is_valid(name):
        raise errors.invalid_args(f"Unit name {name} is not valid.")
    u = m.get_unit(name)
    if u is None:
        raise errors.bus_error(errors.NO_SUCH_UNIT, f"Unit {name} not loaded.")
    return u
