"""Unit types, one module each, peers behind the UnitType interface (sysmasterd.core.unittype)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from compat.model import UnitKind

if TYPE_CHECKING:
    from sysmasterd.core.unit import Unit
    from sysmasterd.core.unittype import UnitType


class ImplFactory(Protocol):
    def __call__(self, unit: Unit) -> UnitType: ...


def impl_class(kind: UnitKind, loaded: bool) -> ImplFactory:
    """The type implementation for a unit kind; units that did not load get the inert one."""
    from sysmasterd.units.service import Service
    from sysmasterd.units.slice import Slice
    from sysmasterd.units.target import Target
    from sysmasterd.units.unsupported import Unsupported

    if not loaded:
        return Unsupported
    table: dict[UnitKind, ImplFactory] = {UnitKind.SERVICE: Service, UnitKind.TARGET: Target,
                                          UnitKind.SLICE: Slice}
    return table.get(kind, Unsupported)
