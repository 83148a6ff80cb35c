"""Unit types, one module each, peers behind the UnitType interface (sysmasterd.core.unittype).

Each module declares its type in a TypeDescriptor; TYPES lists them. Adding a type is a module
here plus the pieces its descriptor names (see docs/core.md, "Adding a unit type")."""

from __future__ import annotations

from compat.model import UnitKind
from sysmasterd.core.unittype import TypeDescriptor
from sysmasterd.units import (
    automount,
    device,
    mount,
    path,
    scope,
    service,
    slice,
    socket,
    swap,
    target,
    timer,
    unsupported,
)

TYPES: dict[UnitKind, TypeDescriptor] = {d.kind: d for d in (
    service.TYPE, target.TYPE, slice.TYPE, path.TYPE, timer.TYPE, socket.TYPE, scope.TYPE, device.TYPE,
    mount.TYPE, swap.TYPE, automount.TYPE)}


def descriptor(kind: UnitKind) -> TypeDescriptor:
    """The type of a unit kind; kinds not implemented yet get the inert Unsupported type."""
    return TYPES.get(kind) or unsupported.descriptor_for(kind)
