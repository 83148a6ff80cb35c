"""org.freedesktop.systemd1.Mount over a unit whose type implementation is units.mount.Mount."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from compat.config_mount import MountSection
from sysmasterd.bus.context_props import CGroupProperties, ExecProperties, KillProperties, Sections
from sysmasterd.bus.exec_rows import ControlProperties, recorded_rows
from sysmasterd.bus.iface import Getter, prop
from sysmasterd.units.mount import EXEC_KINDS, Mount

if TYPE_CHECKING:
    from sysmasterd.core.unit import Unit


def _impl(u: Unit) -> Mount | None:
    return u.impl if isinstance(u.impl, Mount) else None


def _mount(u: Unit) -> MountSection | None:
    return u.config.mount if u.config is not None else None


class MountInterface(ControlProperties, ExecProperties, KillProperties, CGroupProperties):
    name = "org.freedesktop.systemd1.Mount"
    impl_type = Mount
    own_sections: ClassVar[Sections] = ((MountSection, _mount),)

    def fallback_getter(self, name: str, signature: str) -> Getter:
        if name in EXEC_KINDS:
            return lambda u: recorded_rows(_impl(u), name)
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

    @staticmethod
    def _parameters(u: Unit) -> Any:
        impl = _impl(u)
        return impl.parameters() if impl is not None else None
