"""The state of one event while rules run on it (udev's UdevEvent)."""

from dataclasses import dataclass, field

from sysmasterd.devmaster.device import Device
from sysmasterd.devmaster.framework.db import DbRecord

TYPE_CHECKING = False  # the rule model is only named here, for mypy
if TYPE_CHECKING:
    from udev_rules_translator.model import RuleLine


@dataclass
class EventSettings:
    """Daemon settings a worker needs while running rules."""

    event_timeout: float = 180.0
    timeout_signal: int = 9
    exec_delay: float = 0.0
    blockdev_read_only: bool = False
    run_dir: str = "/run/udev"
    # the manager's inotify instance (OPTIONS+="watch"), -1 when not watching (devctl test)
    inotify_fd: int = -1
    # SET_ENV from the control socket: added to every event ("" removes)
    extra_env: dict[str, str] = field(default_factory=dict)


@dataclass
class UdevEvent:
    dev: Device
    settings: EventSettings
    old: DbRecord | None = None
    # the device the parent tokens of the current line matched (%b, %d, $attr fallback)
    dev_parent: Device | None = None
    # OPTIONS+="string_escape=": "unset", "none" or "replace"; reset per line
    esc: str = "unset"
    parents_with_db: set[str] = field(default_factory=set)
    builtins_run: set[str] = field(default_factory=set)
    builtins_failed: set[str] = field(default_factory=set)
    name: str | None = None
    program_result: str | None = None
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None
    seclabels: dict[str, str] = field(default_factory=dict)
    # (kind, command): kind is "program" or "builtin"
    run: list[tuple[str, str]] = field(default_factory=list)
    inotify_watch: bool = False
    final_keys: set[str] = field(default_factory=set)
    # the line being applied: udevd's debug messages about a rule name its file and line
    rule_line: "RuleLine | None" = None

    @property
    def action(self) -> str:
        return self.dev.action or ""
