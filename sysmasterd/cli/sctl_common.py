"""What every sctl verb shares: options, exit codes, error output, systemctl's unit-name mangling.

Kept to the standard library's cheapest modules: every sctl invocation imports this.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # mypy knows this name; typing itself costs more to import than sctl may spend
if TYPE_CHECKING:
    from sysmasterd.cli.dbuswire import CallFailed

EXIT_FAILURE = 1
EXIT_NOT_RUNNING = 3  # LSB: program is not running
EXIT_NO_SUCH_UNIT = 4  # LSB status: program or service status is unknown
EXIT_NOT_INSTALLED = 5
EXIT_NOT_CONFIGURED = 6
EXIT_NO_PERMISSION = 4
EXIT_UNIMPLEMENTED = 3

_ERROR_EXIT = {
    "org.freedesktop.systemd1.NoSuchUnit": EXIT_NOT_INSTALLED,
    "org.freedesktop.DBus.Error.AccessDenied": EXIT_NO_PERMISSION,
    "org.freedesktop.systemd1.OnlyByDependency": EXIT_NO_PERMISSION,
    "org.freedesktop.systemd1.NoIsolation": EXIT_NO_PERMISSION,
    "org.freedesktop.systemd1.TransactionIsDestructive": EXIT_NO_PERMISSION,
    "org.freedesktop.systemd1.JobTypeNotApplicable": EXIT_UNIMPLEMENTED,
    "org.freedesktop.DBus.Error.NotSupported": EXIT_UNIMPLEMENTED,
    "org.freedesktop.systemd1.LoadFailed": EXIT_NOT_CONFIGURED,
}


# systemd's output modes (-o); the json ones print tables as JSON.
OUTPUT_MODES = ("short", "short-full", "short-iso", "short-iso-precise", "short-precise", "short-monotonic",
                "short-unix", "short-delta", "verbose", "export", "json", "json-pretty", "json-sse", "json-seq", "cat",
                "with-unit")


# parse_boolean()'s words
BOOLEANS = {"1": True, "yes": True, "y": True, "true": True, "t": True, "on": True,
            "0": False, "no": False, "n": False, "false": False, "f": False, "off": False}


class Options:
    """The parsed command line. A plain class: dataclasses costs more to import than sctl may spend."""

    def __init__(self) -> None:
        self.user = False
        self.all = False
        self.states: list[str] = []
        self.properties: list[str] = []
        self.value = False
        self.no_block = False
        self.legend = True
        self.now = False
        self.signal = "SIGTERM"
        self.kill_whom = "all"
        self.quiet = False
        self.after = False
        self.before = False
        self.types: list[str] = []
        self.lines = 10
        self.plain = False
        self.output = "short"
        self.show_types = False
        self.dependency = "forward"  # list-dependencies: forward, reverse, after, before
        self.full = False
        self.wait = False
        self.runtime = False
        self.force = 0
        self.no_reload = False
        self.job_mode = "replace"
        self.with_dependencies = False
        self.recursive = False
        self.root = ""
        self.no_pager = False
        self.clean_what: list[str] = []
        self.read_only = False
        self.mkdir = False
        self.show_transaction = False
        self.dry_run = False
        self.preset_mode = "full"
        self.global_scope = False  # --global: the unit files of every user, without a manager
        self.marked = False  # reload-or-restart --marked: the jobs the manager's markers ask for
        self.firmware_setup = False
        self.boot_loader_menu: int | None = None  # usec
        self.boot_loader_entry: str | None = None
        self.reboot_argument: str | None = None
        self.help_list = ""  # "type" or "state": --type=help/--state=help lists the choices instead
        # ("host" or "machine", where) for -H/-M; ("", "") for the local manager
        self.transport = ("", "")

    @property
    def no_legend(self) -> bool:
        return not self.legend

    @property
    def scope_flag(self) -> str:
        return " --user" if self.user else ""


def exit_for(err: CallFailed) -> int:
    return _ERROR_EXIT.get(err.name, EXIT_FAILURE)


_STDERR_TTY: list[bool] = []


def err(text: str) -> None:
    """A message as systemd's log writes one to the console: its line ends in \\r\\n on a terminal."""
    if not _STDERR_TTY:
        _STDERR_TTY.append(sys.stderr.isatty())
    sys.stderr.write(text + ("\r\n" if _STDERR_TTY[0] else "\n"))
    sys.stderr.flush()


# systemd 252's unit-name.c, for mangling only; compat.unitname has the full model but imports
# compat.model, which costs several times sctl's start-up budget.
_TYPES = frozenset(("service", "socket", "target", "device", "mount", "automount", "swap", "timer", "path",
                    "slice", "scope"))
_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_VALID_WITH_AT = frozenset(_LETTERS + ":-_.\\@")
_VALID_GLOB = _VALID_WITH_AT | frozenset("[]!-*?")
UNIT_NAME_MAX = 256


def unit_name_is_valid(name: str) -> bool:
    """Plain, template or instance name: `prefix[@[instance]].type` in the allowed alphabet."""
    stem, _, suffix = name.rpartition(".")
    return (bool(stem) and suffix in _TYPES and len(name.encode()) < UNIT_NAME_MAX and stem[0] != "@"
            and all(c in _VALID_WITH_AT for c in stem))


def is_glob(name: str) -> bool:
    return any(c in name for c in "*?[")


def mangle(name: str, quiet: bool = False, suffix: str = ".service") -> str:
    """systemctl's unit_name_mangle(): `foo` means foo.service, a path means its .device/.mount unit,
    anything else invalid is escaped (and said so on stderr unless quiet). Globs pass unchanged."""
    if unit_name_is_valid(name) or (is_glob(name) and all(c in _VALID_GLOB for c in name)):
        return name
    if name.startswith("/"):
        from compat.unitname import path_escape  # rare: not worth its import on every call

        is_device = name.startswith(("/dev/", "/sys/"))
        mangled = path_escape(name) + (".device" if is_device else ".mount")
        if unit_name_is_valid(mangled):
            return mangled
    escaped = "".join("-" if c == "/" else c if c in _VALID_WITH_AT else "".join(f"\\x{b:02x}" for b in c.encode())
                      for c in name)
    if escaped != name and not quiet:
        err(f'Invalid unit name "{name}" escaped as "{escaped}" (maybe you should use systemd-escape?).')
    if escaped.rpartition(".")[2] not in _TYPES or "." not in escaped:
        escaped += suffix
    return escaped
