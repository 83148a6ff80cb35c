"""[Swap] directives -> SwapSection, and the checks systemd applies once a swap unit is loaded
(load-fragment-gperf's Swap entries, config_parse_swap_priority, swap_verify())."""

from __future__ import annotations

from dataclasses import dataclass

from compat import fstab, unitname
from compat.model import KillMode, UnitConfig
from compat.settings import Invalid, ParseContext, path_setting, plain, setter, string_printf
from compat.values import parse_sec_fix_0

PRIORITY_MAX = 32767


@dataclass
class SwapSection:
    what: str | None = None  # None: the path the unit name spells
    priority: int | None = None  # None: not set (the kernel picks one)
    options: str | None = None
    timeout_usec: int | None = None  # None: the manager's DefaultTimeoutStartSec=


def _swap(cfg: UnitConfig) -> SwapSection:
    assert cfg.swap is not None  # handlers of this table only run for .swap units
    return cfg.swap


def _priority(cfg: UnitConfig, value: str, ctx: ParseContext) -> None:
    """config_parse_swap_priority: its own warnings, each ignoring the value."""
    section = _swap(cfg)
    if not value:
        section.priority = None
        return
    try:
        priority = int(value, 10)
    except ValueError:
        raise Invalid(f"Invalid swap priority '{value}', ignoring.", complete=True) from None
    if priority < -1:
        raise Invalid("Sorry, swap priorities smaller than -1 may only be assigned by the kernel itself, "
                      f"ignoring: {value}", complete=True)
    if priority > PRIORITY_MAX:
        raise Invalid(f"Swap priority out of range, ignoring: {value}", complete=True)
    section.priority = priority


SWAP_HANDLERS = {
    "What": path_setting(_swap, "what"),
    "Priority": _priority,
    "Options": setter(_swap, "options", string_printf, reset=True),
    "TimeoutSec": setter(_swap, "timeout_usec", plain(parse_sec_fix_0, "Failed to parse sec value")),
}


def init_swap(cfg: UnitConfig) -> None:
    """What swap_init() sets before the files are read: swap survives isolate."""
    cfg.unit.ignore_on_isolate = True


def swap_what(cfg: UnitConfig) -> str | None:
    """What=, else the path the unit name spells; None if it spells none."""
    if cfg.swap is not None and cfg.swap.what:
        return cfg.swap.what
    return unitname.to_path(cfg.name)


def find_priority(options: str | None) -> int | None:
    """fstab_find_pri(): the last pri= of the options; ValueError if it is no number."""
    values = fstab.option_values(options, "pri")
    if not values:
        return None
    return int(values[-1], 10)


def verify_swap(cfg: UnitConfig) -> str | None:
    """systemd's swap_verify() for a unit read from files: the reason it is refused, or None."""
    what = swap_what(cfg)
    if what is None:
        return "Failed to generate unit name from path: Invalid argument"
    try:
        expected = unitname.path_escape(what) + ".swap"
    except ValueError:
        return "Failed to generate unit name from path: Invalid argument"
    if expected != cfg.name:
        return "Value of What= and unit name do not match, not loading."
    if cfg.exec.unsupported.get("PAMName") and cfg.kill.kill_mode is not KillMode.CONTROL_GROUP:
        return "Unit has PAM enabled. Kill mode must be set to 'control-group'. Refusing to load."
    return None
