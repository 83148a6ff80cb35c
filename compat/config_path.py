"""[Path] directives -> PathSection, and the check systemd applies once a path unit is loaded."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from compat.model import USEC_INFINITY, UnitConfig
from compat.settings import Handler, ParseContext, checked_path, plain, setter, trigger_unit_setting
from compat.values import parse_boolean, parse_mode, parse_timespan, parse_unsigned

# What systemd puts in place of an unset trigger limit (path_add_extras), so that an unmet
# condition of the triggered unit cannot spin the manager.
DEFAULT_TRIGGER_LIMIT_INTERVAL_USEC = 2_000_000
DEFAULT_TRIGGER_LIMIT_BURST = 200
UINT_MAX = (1 << 32) - 1


class PathKind(enum.Enum):
    """The watch settings, named as the directives (systemd's path_type_table)."""

    EXISTS = "PathExists"
    EXISTS_GLOB = "PathExistsGlob"
    CHANGED = "PathChanged"
    MODIFIED = "PathModified"
    DIRECTORY_NOT_EMPTY = "DirectoryNotEmpty"


@dataclass(frozen=True)
class PathSpec:
    kind: PathKind
    path: str  # absolute, simplified


@dataclass
class PathSection:
    # Last setting first, as systemd keeps them (it prepends each): the order of the checks and
    # of the Paths property.
    specs: list[PathSpec] = field(default_factory=list)
    unit: str | None = None  # Unit=; None: the .service of the same name
    make_directory: bool = False
    directory_mode: int = 0o755
    trigger_limit_interval_usec: int | None = None  # None: DEFAULT_TRIGGER_LIMIT_INTERVAL_USEC
    trigger_limit_burst: int | None = None  # None: DEFAULT_TRIGGER_LIMIT_BURST


def _path(cfg: UnitConfig) -> PathSection:
    assert cfg.path is not None  # handlers of this table only run for .path units
    return cfg.path


def _spec(kind: PathKind) -> Handler:
    def handle(cfg: UnitConfig, value: str, ctx: ParseContext) -> None:
        section = _path(cfg)
        if value == "":
            section.specs.clear()
            return
        section.specs.insert(0, PathSpec(kind, checked_path(ctx.printf(value, quote=""), kind.value)))

    return handle


PATH_HANDLERS: dict[str, Handler] = {
    **{kind.value: _spec(kind) for kind in PathKind},
    "Unit": trigger_unit_setting(_path),
    "MakeDirectory": setter(_path, "make_directory", plain(parse_boolean, "Failed to parse boolean value")),
    "DirectoryMode": setter(_path, "directory_mode", plain(parse_mode, "Failed to parse mode value")),
    "TriggerLimitIntervalSec": setter(
        _path, "trigger_limit_interval_usec", plain(parse_timespan, "Failed to parse sec value")
    ),
    "TriggerLimitBurst": setter(
        _path, "trigger_limit_burst", plain(parse_unsigned, "Failed to parse unsigned value")
    ),
}


def trigger_unit(cfg: UnitConfig) -> str:
    """The unit a path unit starts: Unit=, else the service of the same name."""
    assert cfg.path is not None
    return cfg.path.unit or cfg.name.rsplit(".", 1)[0] + ".service"


def trigger_limit(section: PathSection) -> tuple[int, int]:
    """(interval usec, burst) as systemd fills them in when unset."""
    interval = section.trigger_limit_interval_usec
    burst = section.trigger_limit_burst
    # "infinity" and UINT_MAX are what systemd's own unset marks read as: it replaces them too.
    if interval is None or interval == USEC_INFINITY:
        interval = DEFAULT_TRIGGER_LIMIT_INTERVAL_USEC
    if burst is None or burst == UINT_MAX:
        burst = DEFAULT_TRIGGER_LIMIT_BURST
    return interval, burst


def verify_path(cfg: UnitConfig) -> str | None:
    """systemd's path_verify()."""
    if cfg.path is None or not cfg.path.specs:
        return "Path unit lacks path setting. Refusing."
    return None
