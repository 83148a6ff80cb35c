"""The interface every unit type implements (systemd's UnitVTable), and what its operations return.

The manager and the job engine only ever talk to a unit type through this interface, so service,
target, socket, timer, ... are peers and nothing switches on the type.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from sysmasterd.core.states import ActiveState

if TYPE_CHECKING:
    from sysmasterd.core.unit import Unit


class OpResult(enum.Enum):
    """Outcome of asking a unit type to start/stop/reload, mapped to a job result by the job."""

    STARTED = "started"  # the operation is under way; the unit reports when it is done
    ALREADY = "already"  # nothing to do: the job is done at once
    AGAIN = "again"  # cannot run now (e.g. still stopping): the job waits and is retried
    UNSUPPORTED = "unsupported"  # the type cannot do this operation at all
    CONDITION_FAILED = "condition"  # job done, unit stays inactive
    ASSERT_FAILED = "assert"
    FAILED = "failed"  # e.g. start limit hit: the job fails at once


class KillWho(enum.Enum):
    MAIN = "main"
    CONTROL = "control"
    ALL = "all"


class UnitType(Protocol):
    """Per-type behaviour. One instance per unit, created by the unit once its config is loaded."""

    unit: Unit
    # Whether the type runs processes (has Exec*/KillMode/cgroup): service yes, target no.
    has_processes: ClassVar[bool]

    def active_state(self) -> ActiveState: ...

    def sub_state(self) -> str: ...

    def add_default_dependencies(self) -> None: ...

    def start(self) -> OpResult: ...

    def stop(self) -> OpResult: ...

    def reload(self) -> OpResult: ...

    def can_reload(self) -> bool: ...

    def kill(self, who: KillWho, signo: int) -> list[int]:
        """Send a signal; returns the PIDs signalled."""

    def reset_failed(self) -> None: ...

    def child_exited(self, pid: int, status: int) -> bool:
        """A watched PID exited (raw wait status). True if the type owned it."""

    def notify_message(self, pid: int, fields: dict[str, str], fds: list[int]) -> None: ...

    def main_pid(self) -> int: ...

    def control_pid(self) -> int: ...

    def serialize(self) -> dict[str, Any]: ...

    def deserialize(self, data: dict[str, Any]) -> None:
        """Restore runtime state written by serialize() (after a core restart)."""

    def result(self) -> str: ...
