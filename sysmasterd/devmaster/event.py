"""The state of one event while rules run on it (udev's UdevEvent)."""

from sysmasterd.devmaster.device import Device
from sysmasterd.devmaster.framework.db import DbRecord

TYPE_CHECKING = False  # the rule model is only named here, for mypy
if TYPE_CHECKING:
    from udev_rules_translator.model import RuleLine


# A plain class, not a dataclass: devctl's start-up does not pay for dataclasses (and inspect).
class EventSettings:
    """Daemon settings a worker needs while running rules."""

    def __init__(self, event_timeout: float = 180.0, timeout_signal: int = 9, exec_delay: float = 0.0,
                 blockdev_read_only: bool = False, run_dir: str = "/run/udev", inotify_fd: int = -1,
                 extra_env: dict[str, str] | None = None) -> None:
        self.event_timeout = event_timeout
        self.timeout_signal = timeout_signal
        self.exec_delay = exec_delay
        self.blockdev_read_only = blockdev_read_only
        self.run_dir = run_dir
        # the manager's inotify instance (OPTIONS+="watch"), -1 when not watching (devctl test)
        self.inotify_fd = inotify_fd
        # SET_ENV from the control socket: added to every event ("" removes)
        self.extra_env: dict[str, str] = {} if extra_env is None else extra_env


class UdevEvent:
    def __init__(self, dev: Device, settings: EventSettings, old: DbRecord | None = None) -> None:
        self.dev = dev
        self.settings = settings
        self.old = old
        # the device the parent tokens of the current line matched (%b, %d, $attr fallback)
        self.dev_parent: Device | None = None
        # OPTIONS+="string_escape=": "unset", "none" or "replace"; reset per line
        self.esc = "unset"
        self.parents_with_db: set[str] = set()
        self.builtins_run: set[str] = set()
        self.builtins_failed: set[str] = set()
        self.name: str | None = None
        self.program_result: str | None = None
        self.mode: int | None = None
        self.uid: int | None = None
        self.gid: int | None = None
        self.seclabels: dict[str, str] = {}
        # (kind, command): kind is "program" or "builtin"
        self.run: list[tuple[str, str]] = []
        self.inotify_watch = False
        self.final_keys: set[str] = set()
        # the line being applied: udevd's debug messages about a rule name its file and line
        self.rule_line: RuleLine | None = None

    @property
    def action(self) -> str:
        return self.dev.action or ""
