"""The Exec*= rows and the implementation-backed properties that the interfaces of process-running
types share: ControlPID and Result from the type's implementation, Exec* rows either from the
unit file's commands (service, socket) or from the command a control step last ran (mount, swap,
whose commands are fixed programs)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from sysmasterd.bus.context_props import exec_command_rows
from sysmasterd.bus.iface import Interface, prop
from sysmasterd.core.control import ExecStatus

if TYPE_CHECKING:
    from sysmasterd.core.unit import Unit


class ControlRecords(Protocol):
    """A type that runs control commands and keeps what each Exec* kind last ran (mount, swap)."""

    exec_argv: dict[str, list[str]]
    exec_status: dict[str, ExecStatus]


class CommandRecords(Protocol):
    """A type that runs the commands of its unit file, each kind's runs in order (service, socket)."""

    exec_status: dict[str, list[ExecStatus]]


def exec_field(kind: str) -> str:
    """The section field of an Exec* kind: ExecStartPre -> exec_start_pre."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", kind).lower()


def recorded_rows(impl: ControlRecords | None, kind: str) -> list[list[Any]]:
    """The command a control step last ran, with its runtime (empty until it ran, as systemd's)."""
    if impl is None or kind not in impl.exec_argv:
        return []
    argv = impl.exec_argv[kind]
    status = impl.exec_status.get(kind, ExecStatus())
    return [[argv[0], list(argv), False, *status.to_list()]]


def configured_rows(section: object | None, impl: CommandRecords | None, kind: str,
                    extended: bool) -> list[list[Any]]:
    """The commands of an Exec* setting of the unit file, each with the record of its last run."""
    if section is None:
        return []
    runs = impl.exec_status.get(kind, []) if impl is not None else []
    return exec_command_rows(getattr(section, exec_field(kind)), runs, extended)


class ImplProperties(Interface):
    """Properties read from the unit's type implementation when it is of ``impl_type`` (a unit
    that did not load as that type reads systemd's neutral values)."""

    impl_type: ClassVar[type]

    def impl(self, u: Unit) -> Any:
        return u.impl if isinstance(u.impl, self.impl_type) else None

    @prop("Result")
    def result(self, u: Unit) -> str:
        impl = self.impl(u)
        return impl.result() if impl is not None else "success"


class ControlProperties(ImplProperties):
    @prop("ControlPID")
    def control_pid(self, u: Unit) -> int:
        impl = self.impl(u)
        return impl.control_pid() if impl is not None else 0
