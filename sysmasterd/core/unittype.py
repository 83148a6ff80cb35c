"""The interface every unit type implements (systemd's UnitVTable), and what its operations return.

The manager and the job engine only ever talk to a unit type through this interface, so service,
target, socket, timer, ... are peers and nothing switches on the type.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from compat.config import TYPE_SECTION
from compat.model import OOMPolicy, UnitKind
from sysmasterd.core.states import ActiveState, JobResult, JobType

if TYPE_CHECKING:
    from collections.abc import Callable

    from sysmasterd.core.manager import Manager
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
    """Per-type behaviour. One instance per unit, created by the unit once its config is loaded.

    The manager, the job engine and recovery talk to a unit's type only through these methods;
    units.base.TypeBase gives the answers of a type that runs no processes."""

    unit: Unit

    # -- state ---------------------------------------------------------------------------------

    def active_state(self) -> ActiveState: ...

    def sub_state(self) -> str: ...

    def result(self) -> str: ...

    # -- loading -------------------------------------------------------------------------------

    def add_implicit_dependencies(self) -> None:
        """Dependencies the type adds whatever DefaultDependencies= says (a timer's Triggers= on
        its unit); systemd adds them in the type's load()."""

    def add_default_dependencies(self) -> None: ...

    def is_extrinsic(self) -> bool:
        """Managed outside the dependency logic, so the manager's shut-down leaves it alone
        (systemd's is_extrinsic: mounts of a user manager, /, API file systems)."""

    # -- operations (the job engine calls these) -----------------------------------------------

    def start(self) -> OpResult: ...

    def stop(self) -> OpResult: ...

    def reload(self) -> OpResult: ...

    def can_reload(self) -> bool: ...

    def kill(self, who: KillWho, signo: int) -> list[int]:
        """Send a signal; returns the PIDs signalled."""

    def reset_failed(self) -> None: ...

    def job_done_message(self, job_type: JobType, result: JobResult) -> str | None:
        """The type's own wording of a finished job ("Finished {}." for oneshots), else None."""

    # -- processes (the exec runtime calls these) ----------------------------------------------

    def pids(self) -> dict[str, int]:
        """The processes the type tracks by role ("main", "control"); 0 or absent: none."""

    def child_exited(self, pid: int, status: int) -> bool:
        """A watched PID exited (raw wait status). True if the type owned it."""

    def exec_succeeded(self, pid: int) -> None:
        """A spawned process got past execve() (its close-on-exec report pipe closed empty)."""

    def accepts_notify_from(self, pid: int, in_unit: bool) -> str | None:
        """None if the PID may send sd_notify messages for this unit, else why not."""

    def notify_message(self, pid: int, fields: dict[str, str], fds: list[int]) -> None: ...

    def following(self) -> Unit | None:
        """The unit whose state this one mirrors (a device's node or alias unit follows the one
        named after its sysfs path); systemd's `following`, shown as Following=."""

    def trigger_notify(self, triggered: Unit) -> None:
        """A unit this one triggers (Triggers=: a socket's service, a timer's or path's unit)
        changed state; systemd's trigger_notify."""

    def timezone_change(self) -> None:
        """/etc/localtime changed (core/timezone.py noticed); systemd's timezone_change."""

    def oom_policy(self) -> OOMPolicy | None:
        """OOMPolicy= as it applies (None: the type has none and ignores OOM kills)."""

    def notify_cgroup_oom(self) -> None:
        """The kernel's OOM killer killed a process of the unit; systemd's notify_cgroup_oom."""

    def release_resources(self) -> None:
        """Inactive or failed with no job: let go of what is kept between runs (a service's fd
        store); systemd's release_resources, called where unit_may_gc() calls it."""

    # -- persistence and recovery --------------------------------------------------------------

    def serialize(self) -> dict[str, Any]: ...

    def deserialize(self, data: dict[str, Any]) -> None:
        """Restore runtime state written by serialize() (after a core restart)."""

    def stored_pids(self, data: dict[str, Any]) -> dict[str, int]:
        """The PIDs by role that serialize() wrote into ``data``."""

    def give_back_pid(self, role: str, pid: int) -> None:
        """Recovery: a PID of this role died while no core ran; track it again so that its exit,
        fed next, reaches the state machine as if seen live."""

    def adopt_interrupted_start(self, data: dict[str, Any], invocation: str) -> dict[str, Any] | None:
        """Recovery: a start was under way when the core died (its intent is stored, the new state
        is not). Returns ``data`` rewritten to the state with the process found, or None."""

    def resume(self) -> bool:
        """After a restore: re-arm timers and watches of the restored state. True if a timer was armed."""


class ImplFactory(Protocol):
    def __call__(self, unit: Unit) -> UnitType: ...


class Context(enum.Flag):
    """The settings blocks a type has, as systemd's UnitVTable offsets say (exec_context_offset,
    kill_context_offset, cgroup_context_offset): the D-Bus face shows their properties."""

    NONE = 0
    EXEC = enum.auto()
    KILL = enum.auto()
    CGROUP = enum.auto()


@dataclass(frozen=True)
class TypeDescriptor:
    """Everything that makes a unit type, in one place (systemd's UnitVTable and unit_types table)."""

    kind: UnitKind
    impl: ImplFactory
    # The type's own D-Bus interface (the unit answers on it before org.freedesktop.systemd1.Unit).
    interface: str | None
    contexts: Context = Context.NONE
    # Targets order themselves after what they pull in (systemd's default target dependency).
    orders_after_pulled_in: bool = False
    # Called once when the manager starts (before restored state): units that exist without
    # unit files (perpetual ones, what the kernel reports), as systemd's enumerate/perpetual hooks.
    enumerate: Callable[[Manager], None] | None = None
    # Isolating to another target leaves units of the type alone (slices, scopes, devices).
    ignored_on_isolate: bool = False
    # Units of the type that need no unit file when this says so (systemd's mount_load(): a mount
    # point the kernel reports); asked when the loader found none.
    loads_without_file: Callable[[Unit], bool] | None = None

    @property
    def section(self) -> str | None:
        """The unit file section of the type's own settings; compat parses it."""
        return TYPE_SECTION[self.kind]
