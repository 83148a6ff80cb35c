"""org.freedesktop.systemd1.Swap over a unit whose type implementation is units.swap.Swap."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from compat.config_swap import SwapSection
from sysmasterd.bus.context_props import CGroupProperties, ExecProperties, KillProperties, Sections
from sysmasterd.bus.exec_rows import ControlProperties, recorded_rows
from sysmasterd.bus.iface import Getter, prop
from sysmasterd.units.swap import EXEC_KINDS, Swap

if TYPE_CHECKING:
    from sysmasterd.core.unit import Unit


def _impl(u: Unit) -> Swap | None:
    return u.impl if isinstance(u.impl, Swap) else None


def _swap(u: Unit) -> SwapSection | None:
    return u.config.swap if u.config is not None else None


class SwapInterface(ControlProperties, ExecProperties, KillProperties, CGroupProperties):
    name = "org.freedesktop.systemd1.Swap"
    impl_type = Swap
    own_sections: ClassVar[Sections] = ((SwapSection, _swap),)

    def fallback_getter(self, name: str, signature: str) -> Getter:
        if name in EXEC_KINDS:
            return lambda u: recorded_rows(_impl(u), name)
        return super().fallback_getter(name, signature)

    @prop("What")
    def what(self, u: Unit) -> str:
        impl = _impl(u)
        return impl.what if impl is not None else ""

    @prop("Priority")
    def priority(self, u: Unit) -> int:
        """The kernel's while active, else Priority= of the unit file, else -1 (swap_get_priority)."""
        impl = _impl(u)
        p = impl.parameters() if impl is not None else None
        return p.priority if p is not None and p.priority is not None else -1

    @prop("Options")
    def options(self, u: Unit) -> str:
        section = _swap(u)
        return (section.options or "") if u.fragment_path and section is not None else ""

    @prop("TimeoutUSec")
    def timeout_usec(self, u: Unit) -> int:
        impl = _impl(u)
        return impl.timeout_usec() if impl is not None else u.manager.settings.default_timeout_start_usec
