"""Units without processes whose state is just 'started or not' (targets, slices)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from sysmasterd.core.states import ActiveState
from sysmasterd.core.unittype import KillWho, OpResult

if TYPE_CHECKING:
    from sysmasterd.core.unit import Unit


class Passive:
    has_processes: ClassVar[bool] = False

    def __init__(self, unit: Unit) -> None:
        self.unit = unit
        self.active = False

    def active_state(self) -> ActiveState:
        return ActiveState.ACTIVE if self.active else ActiveState.INACTIVE

    def sub_state(self) -> str:
        return "active" if self.active else "dead"

    def add_default_dependencies(self) -> None:
        pass

    def start(self) -> OpResult:
        self.active = True
        self.unit.notify()
        return OpResult.STARTED

    def stop(self) -> OpResult:
        self.active = False
        self.unit.notify()
        return OpResult.STARTED

    def reload(self) -> OpResult:
        return OpResult.UNSUPPORTED

    def can_reload(self) -> bool:
        return False

    def kill(self, who: KillWho, signo: int) -> list[int]:
        return []

    def reset_failed(self) -> None:
        pass

    def child_exited(self, pid: int, status: int) -> bool:
        return False

    def notify_message(self, pid: int, fields: dict[str, str], fds: list[int]) -> None:
        pass

    def main_pid(self) -> int:
        return 0

    def control_pid(self) -> int:
        return 0

    def serialize(self) -> dict[str, Any]:
        return {"active": self.active}

    def deserialize(self, data: dict[str, Any]) -> None:
        self.active = bool(data.get("active", False))

    def result(self) -> str:
        return "success"
