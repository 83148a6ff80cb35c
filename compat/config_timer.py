"""[Timer] directives -> TimerSection, and the check systemd applies once a timer is loaded.

Mirrors load-fragment.c's timer entries: On*Sec= and OnCalendar= add one timer value each (an
empty assignment drops all of them), Unit= names the unit to trigger (default: the service of the
same name), the rest are booleans and time spans.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from compat.calendar import CalendarError, CalendarSpec, parse_calendar
from compat.model import USEC_PER_SEC, UnitConfig
from compat.settings import Handler, Invalid, ParseContext, plain, setter, trigger_unit_setting
from compat.values import parse_boolean, parse_timespan

# systemd's DefaultTimerAccuracySec=.
DEFAULT_ACCURACY_USEC = 60 * USEC_PER_SEC


class TimerBase(enum.Enum):
    """What a timer value counts from; the value is the directive's name (systemd's timer_base)."""

    ACTIVE = "OnActiveSec"
    BOOT = "OnBootSec"
    STARTUP = "OnStartupSec"
    UNIT_ACTIVE = "OnUnitActiveSec"
    UNIT_INACTIVE = "OnUnitInactiveSec"
    CALENDAR = "OnCalendar"


@dataclass(frozen=True)
class TimerValue:
    base: TimerBase
    usec: int = 0  # monotonic bases: the span after the base
    calendar: CalendarSpec | None = None  # OnCalendar=


@dataclass
class TimerSection:
    # In file order (systemd prepends, so its D-Bus lists show them reversed; see bus/timer_iface.py).
    values: list[TimerValue] = field(default_factory=list)
    on_clock_change: bool = False
    on_timezone_change: bool = False
    persistent: bool = False
    wake_system: bool = False
    remain_after_elapse: bool = True
    fixed_random_delay: bool = False
    accuracy_usec: int = DEFAULT_ACCURACY_USEC
    randomized_delay_usec: int = 0
    unit: str | None = None  # None: the service named like the timer


def _timer(cfg: UnitConfig) -> TimerSection:
    assert cfg.timer is not None  # handlers of this table only run for .timer units
    return cfg.timer


def _value(base: TimerBase) -> Handler:
    def handle(cfg: UnitConfig, value: str, ctx: ParseContext) -> None:
        section = _timer(cfg)
        if value == "":
            section.values.clear()
            return
        try:
            text = ctx.expand_or_reason(value)
        except ValueError as e:
            raise Invalid(f"Failed to resolve unit specifiers in '{value}', ignoring: {e}", complete=True) from None
        if base is TimerBase.CALENDAR:
            try:
                spec = parse_calendar(text)
            except CalendarError:
                raise Invalid(f"Failed to parse calendar specification, ignoring: {text}", complete=True) from None
            section.values.append(TimerValue(base, calendar=spec))
            return
        try:
            usec = parse_timespan(text)
        except ValueError:
            raise Invalid(f"Failed to parse timer value, ignoring: {text}", complete=True) from None
        section.values.append(TimerValue(base, usec))

    return handle


def _wake_system(cfg: UnitConfig, value: str, ctx: ParseContext) -> None:
    wake = _bool(value, ctx)
    _timer(cfg).wake_system = wake
    if wake:
        ctx.warn("WakeSystem= is not supported by sysmaster yet: the timer will not wake the system from suspend.")


_bool = plain(parse_boolean, "Failed to parse boolean value")
_sec = plain(parse_timespan, "Failed to parse sec value")

TIMER_HANDLERS: dict[str, Handler] = {
    **{base.value: _value(base) for base in TimerBase},
    "OnClockChange": setter(_timer, "on_clock_change", _bool),
    "OnTimezoneChange": setter(_timer, "on_timezone_change", _bool),
    "Persistent": setter(_timer, "persistent", _bool),
    "WakeSystem": _wake_system,
    "RemainAfterElapse": setter(_timer, "remain_after_elapse", _bool),
    "FixedRandomDelay": setter(_timer, "fixed_random_delay", _bool),
    "AccuracySec": setter(_timer, "accuracy_usec", _sec),
    "RandomizedDelaySec": setter(_timer, "randomized_delay_usec", _sec),
    "Unit": trigger_unit_setting(_timer),
}


def trigger_unit(cfg: UnitConfig) -> str:
    """The unit a timer starts: Unit=, else the service of the same name (instance included)."""
    t = cfg.timer
    if t is not None and t.unit:
        return t.unit
    return cfg.name.rsplit(".", 1)[0] + ".service"


def verify_timer(cfg: UnitConfig) -> str | None:
    """systemd's timer_verify(): the reason a loaded timer is refused, or None."""
    t = _timer(cfg)
    if not t.values and not t.on_clock_change and not t.on_timezone_change:
        return "Timer unit lacks value setting. Refusing."
    return None
