"""org.freedesktop.systemd1.Timer over a unit whose type implementation is units.timer.Timer.

What `systemctl list-timers` reads (NextElapseUSecRealtime, NextElapseUSecMonotonic,
LastTriggerUSec, Unit) comes from the running timer; the settings from its [Timer] section."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from compat.config_timer import TimerBase, TimerSection, TimerValue
from compat.model import USEC_INFINITY
from sysmasterd.bus.context_props import ConfigInterface, Sections
from sysmasterd.bus.exec_rows import ImplProperties
from sysmasterd.bus.iface import prop
from sysmasterd.units.timer import Timer

if TYPE_CHECKING:
    from sysmasterd.core.unit import Unit


def _impl(u: Unit) -> Timer | None:
    return u.impl if isinstance(u.impl, Timer) else None


def _section(u: Unit) -> TimerSection:
    """The settings, or systemd's defaults for a timer that did not load (RemainAfterElapse=yes,
    AccuracySec=1min)."""
    return u.config.timer if u.config is not None and u.config.timer is not None else TimerSection()


def _values(u: Unit) -> list[tuple[TimerValue, int]]:
    """Each value with its next elapse, newest setting first as systemd lists them."""
    impl = _impl(u)
    values = _section(u).values
    nexts = impl.value_next if impl is not None and len(impl.value_next) == len(values) else [0] * len(values)
    return list(zip(values, nexts, strict=True))[::-1]


class TimerInterface(ImplProperties, ConfigInterface):
    name = "org.freedesktop.systemd1.Timer"
    impl_type = Timer
    own_sections: ClassVar[Sections] = ((TimerSection, _section),)

    @prop("Unit")
    def trigger(self, u: Unit) -> str:
        impl = _impl(u)
        return (impl.trigger_name() or "") if impl is not None else ""

    @prop("TimersMonotonic")
    def monotonic(self, u: Unit) -> list[list[Any]]:
        # The span settings under their property spelling: OnActiveSec -> OnActiveUSec.
        return [[v.base.value[:-3] + "USec", v.usec, nxt] for v, nxt in _values(u) if v.base is not TimerBase.CALENDAR]

    @prop("TimersCalendar")
    def calendar(self, u: Unit) -> list[list[Any]]:
        return [[v.base.value, v.calendar.normalized(), nxt] for v, nxt in _values(u) if v.calendar is not None]

    @prop("NextElapseUSecRealtime")
    def next_realtime(self, u: Unit) -> int:
        impl = _impl(u)
        return impl.next_elapse_realtime if impl is not None else USEC_INFINITY

    @prop("NextElapseUSecMonotonic")
    def next_monotonic(self, u: Unit) -> int:
        impl = _impl(u)
        return impl.next_elapse_monotonic if impl is not None else USEC_INFINITY

    @prop("LastTriggerUSec")
    def last_trigger(self, u: Unit) -> int:
        impl = _impl(u)
        return impl.last_trigger.realtime if impl is not None else 0

    @prop("LastTriggerUSecMonotonic")
    def last_trigger_monotonic(self, u: Unit) -> int:
        impl = _impl(u)
        return impl.last_trigger.monotonic if impl is not None else 0
