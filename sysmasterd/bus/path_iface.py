"""org.freedesktop.systemd1.Path over a unit whose type implementation is units.path.Path."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from compat.config_path import PathSection, trigger_limit
from sysmasterd.bus.context_props import ConfigInterface, Sections
from sysmasterd.bus.exec_rows import ImplProperties
from sysmasterd.bus.iface import prop
from sysmasterd.units.path import Path

if TYPE_CHECKING:
    from sysmasterd.core.unit import Unit


def _section(u: Unit) -> PathSection | None:
    return u.config.path if u.config is not None else None


class PathInterface(ImplProperties, ConfigInterface):
    name = "org.freedesktop.systemd1.Path"
    impl_type = Path
    own_sections: ClassVar[Sections] = ((PathSection, _section),)

    @prop("Unit")
    def trigger(self, u: Unit) -> str:
        return u.impl.trigger_name() or "" if isinstance(u.impl, Path) else ""

    @prop("Paths")
    def paths(self, u: Unit) -> list[list[str]]:
        section = _section(u)
        return [[s.kind.value, s.path] for s in section.specs] if section is not None else []

    @prop("TriggerLimitIntervalUSec")
    def trigger_limit_interval(self, u: Unit) -> int:
        return trigger_limit(_section(u) or PathSection())[0]

    @prop("TriggerLimitBurst")
    def trigger_limit_burst(self, u: Unit) -> int:
        return trigger_limit(_section(u) or PathSection())[1]
