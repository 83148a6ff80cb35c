"""What a unit type that runs no processes answers to the parts of the UnitType protocol it has no
use for; every type derives from it and overrides what it does."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from compat.model import OOMPolicy
from sysmasterd.core.states import JobResult, JobType
from sysmasterd.core.unittype import KillWho, OpResult

if TYPE_CHECKING:
    from sysmasterd.core.unit import Unit


class TypeBase:
    def __init__(self, unit: Unit) -> None:
        self.unit = unit

    def result(self) -> str:
        return "success"

    def add_implicit_dependencies(self) -> None:
        pass

    def add_default_dependencies(self) -> None:
        pass

    def is_extrinsic(self) -> bool:
        return False

    def reload(self) -> OpResult:
        return OpResult.UNSUPPORTED

    def can_reload(self) -> bool:
        return False

    def kill(self, who: KillWho, signo: int) -> list[int]:
        return []

    def reset_failed(self) -> None:
        pass

    def job_done_message(self, job_type: JobType, result: JobResult) -> str | None:
        return None

    def pids(self) -> dict[str, int]:
        return {}

    def child_exited(self, pid: int, status: int) -> bool:
        return False

    def exec_succeeded(self, pid: int) -> None:
        pass

    def accepts_notify_from(self, pid: int, in_unit: bool) -> str | None:
        return f"Got notification message from PID {pid}, but reception is disabled."

    def notify_message(self, pid: int, fields: dict[str, str], fds: list[int]) -> None:
        for fd in fds:
            os.close(fd)

    def following(self) -> Unit | None:
        return None

    def trigger_notify(self, triggered: Unit) -> None:
        pass

    def timezone_change(self) -> None:
        pass

    def oom_policy(self) -> OOMPolicy | None:
        return None

    def notify_cgroup_oom(self) -> None:
        pass

    def release_resources(self) -> None:
        pass

    def stored_pids(self, data: dict[str, Any]) -> dict[str, int]:
        return {}

    def give_back_pid(self, role: str, pid: int) -> None:
        pass

    def adopt_interrupted_start(self, data: dict[str, Any], invocation: str) -> dict[str, Any] | None:
        return None

    def resume(self) -> bool:
        return False
