"""[Automount] directives -> AutomountSection, and the checks systemd applies once an automount unit
is loaded (load-fragment-gperf's Automount entries, automount_verify())."""

from __future__ import annotations

from dataclasses import dataclass

from compat import fstab, unitname
from compat.model import UnitConfig
from compat.settings import path_setting, plain, setter, string_printf
from compat.values import parse_mode, parse_sec_fix_0

# Options systemd passes to the autofs mount itself; ExtraOptions= may not repeat them.
RESERVED_OPTIONS = ("fd", "pgrp", "minproto", "maxproto", "direct", "indirect")


@dataclass
class AutomountSection:
    where: str | None = None  # None: the path the unit name spells
    extra_options: str | None = None
    directory_mode: int = 0o755
    timeout_idle_usec: int = 0  # 0: never expire


def _automount(cfg: UnitConfig) -> AutomountSection:
    assert cfg.automount is not None  # handlers of this table only run for .automount units
    return cfg.automount


AUTOMOUNT_HANDLERS = {
    "Where": path_setting(_automount, "where"),
    "ExtraOptions": setter(_automount, "extra_options", string_printf, reset=True),
    "DirectoryMode": setter(_automount, "directory_mode", plain(parse_mode, "Failed to parse mode value")),
    "TimeoutIdleSec": setter(_automount, "timeout_idle_usec", plain(parse_sec_fix_0, "Failed to parse sec value")),
}


def init_automount(cfg: UnitConfig) -> None:
    """What automount_init() sets before the files are read: an automount survives isolate."""
    cfg.unit.ignore_on_isolate = True


def automount_where(cfg: UnitConfig) -> str | None:
    """Where=, else the path the unit name spells; None if it spells none."""
    if cfg.automount is not None and cfg.automount.where:
        return cfg.automount.where
    return unitname.to_path(cfg.name)


def verify_automount(cfg: UnitConfig) -> str | None:
    """systemd's automount_verify(): the reason the unit is refused, or None."""
    where = automount_where(cfg)
    if where is None:
        return "Failed to generate unit name from path: Invalid argument"
    if where == "/":
        return "Cannot have an automount unit for the root directory. Refusing."
    if unitname.path_escape(where) + ".automount" != cfg.name:
        return "Where= setting doesn't match unit name. Refusing."
    options = cfg.automount.extra_options if cfg.automount is not None else None
    for option in RESERVED_OPTIONS:
        if fstab.test_option(options, (option,)):
            return f"ExtraOptions= setting may not contain reserved option {option}."
    return None
