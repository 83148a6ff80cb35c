"""Units without processes whose state is just 'started or not' (targets, slices)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sysmasterd.core.states import ActiveState
from sysmasterd.core.unittype import OpResult
from sysmasterd.units.base import TypeBase

if TYPE_CHECKING:
    from sysmasterd.core.unit import Unit


class Passive(TypeBase):
    def __init__(self, unit: Unit) -> None:
        super().__init__(unit)
        self.active = False

    def active_state(self) -> ActiveState:
        return ActiveState.ACTIVE if self.active else ActiveState.INACTIVE

    def sub_state(self) -> str:
        return "active" if self.active else "dead"

    def start(self) -> OpResult:
        self.active = True
        self.unit.notify()
        return OpResult.STARTED

    def stop(self) -> OpResult:
        self.active = False
        self.unit.notify()
        return OpResult.STARTED

    def serialize(self) -> dict[str, Any]:
        return {"active": self.active}

    def deserialize(self, data: dict[str, Any]) -> None:
        self.active = bool(data.get("active", False))
