"""org.freedesktop.systemd1.Mount over a unit whose type implementation is units.mount.Mount."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from compat.config_mount import MountSection
from sysmasterd.bus.context_props import CGroupProperties, ExecProperties, KillProperties, Sections
from sysmasterd.bus.iface import Getter, prop
from sysmasterd.core.control import ExecStatus
from sysmasterd.units.mount import EXEC_KINDS, Mount

if TYPE_CHECKING:
    from sysmasterd.core.unit import Unit


def _impl(u: Unit) -> Mount | None:
    return u.impl if isinstance(u.impl, Mount) else None


def _mount(u: Unit) -> MountSection | None:
    return u.config.mount if u.config is not None else None


class ControlRecords(Protocol):
    """A type that runs control commands and keeps what each Exec* kind last ran (mount, swap)."""

    exec_argv: dict[str, list[str]]
    exec_status: dict[str, ExecStatus]


def exec_rows(impl: ControlRecords | None, kind: str) -> list[list[Any]]:
    """The command a control step last ran, with its runtime (empty until it ran, as systemd's)."""
    if impl is None or kind not in impl.exec_argv:
        return []
    argv = impl.exec_argv[kind]
    status = impl.exec_status.get(kind, ExecStatus())
    return [[argv[0], list(argv), False, *status.to_list()]]


class MountInterface(ExecProperties, KillProperties, CGroupProperties):
    name = "org.freedesktop.systemd1.Mount"
    own_sections: ClassVar[Sections] = ((MountSection, _mount),)

    def fallback_getter(self, name: str, signature: str) -> Getter:
        if name in EXEC_KINDS:
            return lambda u: exec_rows(_impl(u), name)
        return super().fallback_getter(name, signature)

    @prop("Where")
    def where(self, u: Unit) -> str:
        impl = _impl(u)
        return impl.where if impl is not None else ""

    @prop("What")
    def what(self, u: Unit) -> str:
        p = self._parameters(u)
        return (p.what or "") if p is not None else ""

    @prop("Options")
    def options(self, u: Unit) -> str:
        p = self._parameters(u)
        return (p.options or "") if p is not None else ""

    @prop("Type")
    def type(self, u: Unit) -> str:
        p = self._parameters(u)
        return (p.fstype or "") if p is not None else ""

    @prop("TimeoutUSec")
    def timeout_usec(self, u: Unit) -> int:
        impl = _impl(u)
        return impl.timeout_usec() if impl is not None else u.manager.settings.default_timeout_start_usec

    @prop("ControlPID")
    def control_pid(self, u: Unit) -> int:
        impl = _impl(u)
        return impl.control_pid() if impl is not None else 0

    @prop("Result")
    def result(self, u: Unit) -> str:
        impl = _impl(u)
        return impl.result() if impl is not None else "success"

    @staticmethod
    def _parameters(u: Unit) -> Any:
        impl = _impl(u)
        return impl.parameters() if impl is not None else None
