"""[Mount] directives -> MountSection, and the checks systemd applies once a mount unit is loaded
(load-fragment-gperf's Mount entries, mount_verify())."""

from __future__ import annotations

from dataclasses import dataclass

from compat import fstab, unitname
from compat.model import USEC_INFINITY, UnitConfig
from compat.settings import Handler, Invalid, ParseContext, path_setting, plain, setter, string_printf
from compat.values import parse_boolean, parse_mode, parse_timespan


@dataclass
class MountSection:
    what: str | None = None
    where: str | None = None  # None: the path the unit name spells
    type: str | None = None
    options: str | None = None
    sloppy_options: bool = False
    lazy_unmount: bool = False
    read_write_only: bool = False
    force_unmount: bool = False
    directory_mode: int = 0o755
    timeout_usec: int | None = None  # None: the manager's DefaultTimeoutStartSec=


def _mount(cfg: UnitConfig) -> MountSection:
    assert cfg.mount is not None  # handlers of this table only run for .mount units
    return cfg.mount


def _sec_fix_0(value: str, ctx: ParseContext) -> int:
    """config_parse_sec_fix_0: 0 means no timeout rather than an instant one."""
    try:
        usec = parse_timespan(value)
    except ValueError:
        raise Invalid("Failed to parse timeout value") from None
    return usec or USEC_INFINITY


_bool = plain(parse_boolean, "Failed to parse boolean value")

MOUNT_HANDLERS: dict[str, Handler] = {
    "What": setter(_mount, "what", string_printf),
    "Where": path_setting(_mount, "where"),
    "Options": setter(_mount, "options", string_printf),
    "Type": setter(_mount, "type", string_printf),
    "TimeoutSec": setter(_mount, "timeout_usec", _sec_fix_0),
    "DirectoryMode": setter(_mount, "directory_mode", plain(parse_mode, "Failed to parse mode value")),
    "SloppyOptions": setter(_mount, "sloppy_options", _bool),
    "LazyUnmount": setter(_mount, "lazy_unmount", _bool),
    "ForceUnmount": setter(_mount, "force_unmount", _bool),
    "ReadWriteOnly": setter(_mount, "read_write_only", _bool),
}


def init_mount(cfg: UnitConfig) -> None:
    """What mount_init() sets before the files are read: a mount survives isolate."""
    cfg.unit.ignore_on_isolate = True


def mount_where(cfg: UnitConfig) -> str | None:
    """Where=, else the path the unit name spells; None if the name spells none."""
    if cfg.mount is not None and cfg.mount.where:
        return cfg.mount.where
    try:
        return unitname.path_unescape(cfg.name.rsplit(".", 1)[0])
    except ValueError:
        return None


def verify_mount(cfg: UnitConfig) -> str | None:
    """systemd's mount_verify() for a unit read from files: the reason it is refused, or None."""
    where = mount_where(cfg)
    if where is None:
        return "Failed to derive mount point path from unit name. Refusing."
    try:
        expected = unitname.path_escape(where) + ".mount"
    except ValueError:
        return "Failed to generate unit name from mount path: Invalid argument"
    if expected != cfg.name:
        return "Where= setting doesn't match unit name. Refusing."
    if fstab.mount_point_is_api(where) or fstab.mount_point_ignore(where):
        return f"Cannot create mount unit for API file system {where}. Refusing."
    if cfg.mount is not None and not cfg.mount.what and cfg.name != "-.mount":
        return "What= setting is missing. Refusing."
    return None
