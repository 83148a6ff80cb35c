"""org.freedesktop.systemd1.Automount over a unit whose type implementation is units.automount.Automount."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from compat.config_automount import AutomountSection
from sysmasterd.bus.context_props import ConfigInterface, Sections
from sysmasterd.bus.exec_rows import ImplProperties
from sysmasterd.bus.iface import prop
from sysmasterd.units.automount import Automount

if TYPE_CHECKING:
    from sysmasterd.core.unit import Unit


def _section(u: Unit) -> AutomountSection | None:
    return u.config.automount if u.config is not None else None


class AutomountInterface(ImplProperties, ConfigInterface):
    name = "org.freedesktop.systemd1.Automount"
    impl_type = Automount
    own_sections: ClassVar[Sections] = ((AutomountSection, _section),)

    @prop("Where")
    def where(self, u: Unit) -> str:
        return u.impl.where if isinstance(u.impl, Automount) else ""

    @prop("ExtraOptions")
    def extra_options(self, u: Unit) -> str:
        section = _section(u)
        return (section.extra_options or "") if section is not None else ""

    @prop("TimeoutIdleUSec")
    def timeout_idle_usec(self, u: Unit) -> int:
        section = _section(u)
        return section.timeout_idle_usec if section is not None else 0
