"""/etc/sysmaster/init.conf: how init runs core. Bad values fall back to defaults, with a message.

PID 1 must come up whatever the file says, so nothing here raises.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import sys
from dataclasses import dataclass, field, fields, replace

DEFAULT_PATH = "/etc/sysmaster/init.conf"


def default_binary() -> str:
    """``sysmasterd`` next to the running interpreter (a venv), else on PATH."""
    beside = os.path.join(os.path.dirname(sys.executable), "sysmasterd")
    if os.access(beside, os.X_OK):
        return beside
    return shutil.which("sysmasterd") or "/usr/bin/sysmasterd"


@dataclass(frozen=True)
class InitConfig:
    binary: str = field(default_factory=default_binary)
    args: tuple[str, ...] = ("--system",)
    heartbeat_interval: float = 5.0  # seconds between core's heartbeats; 0 disables hang detection
    heartbeat_misses: int = 3  # missed in a row -> core is hung
    start_timeout: float = 60.0  # time a new core has before its first message
    restart_tries: int = 5  # failures in a row (no "ready" between) before emergency mode
    restart_backoff: float = 0.1  # delay before the 2nd restart in a row, doubled per failure
    restart_backoff_max: float = 10.0
    emergency_shell: tuple[str, ...] = ()  # command run once on entering emergency mode
    emergency_retry: float = 60.0  # core retry period in emergency mode
    shutdown_timeout: float = 90.0  # core's time to stop units after "stop"
    kill_timeout: float = 10.0  # SIGTERM -> SIGKILL for the remaining processes

    @property
    def hang_after(self) -> float:
        return self.heartbeat_interval * self.heartbeat_misses


_DEFAULTS = InitConfig(binary="")
_POSITIVE_INT = {"heartbeat_misses"}
_NON_NEGATIVE_INT = {"restart_tries"}
_COMMANDS = {"args", "emergency_shell"}


def _line_of(text: str, key: str) -> int:
    for number, line in enumerate(text.splitlines(), 1):
        if re.match(rf"\s*{re.escape(key)}\s*=", line):
            return number
    return 0


def _convert(key: str, raw: object) -> object:
    """Raw configobj value -> typed value; raises ValueError with the reason."""
    if key in _COMMANDS:
        words = list(raw) if isinstance(raw, list) else shlex.split(str(raw))
        return tuple(str(w) for w in words)
    if isinstance(raw, list):
        raise ValueError("expected one value, got a list")
    text = str(raw).strip()
    if key == "binary":
        if not text:
            raise ValueError("empty")
        return text
    if key in _POSITIVE_INT or key in _NON_NEGATIVE_INT:
        number = int(text)
        if number < (1 if key in _POSITIVE_INT else 0):
            raise ValueError("out of range")
        return number
    seconds = float(text)
    if not seconds >= 0 or seconds == float("inf"):
        raise ValueError("expected seconds >= 0")
    return seconds


def parse_config(text: str, source: str) -> tuple[InitConfig, list[str]]:
    """init.conf text -> (config, diagnostics as 'source:line: message')."""
    try:
        from configobj import ConfigObj, ConfigObjError
    except ImportError:
        return InitConfig(), [f"{source}: configobj is not installed; using defaults"]
    try:
        parsed = ConfigObj(text.splitlines(), interpolation=False, list_values=True)
    except ConfigObjError as e:
        line = getattr(e, "line_number", 0)
        return InitConfig(), [f"{source}:{line}: {e}; using defaults"]
    known = {f.name for f in fields(InitConfig)}
    diagnostics: list[str] = []
    values: dict[str, object] = {}
    for key, raw in parsed.items():
        where = f"{source}:{_line_of(text, key)}"
        if key not in known or isinstance(raw, dict):
            diagnostics.append(f"{where}: unknown setting {key!r} ignored")
            continue
        try:
            values[key] = _convert(key, raw)
        except ValueError as e:
            fallback = getattr(_DEFAULTS, key) or "the default"
            diagnostics.append(f"{where}: {key}: bad value {raw!r} ({e}); using {fallback}")
    return replace(InitConfig(), **values), diagnostics  # type: ignore[arg-type]


def load_config(path: str | None) -> tuple[InitConfig, list[str]]:
    """Read ``path`` (default /etc/sysmaster/init.conf). A missing default file is not an error."""
    try:
        with open(path or DEFAULT_PATH, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        return InitConfig(), ([f"{path}: not found; using defaults"] if path else [])
    except (OSError, UnicodeDecodeError) as e:
        return InitConfig(), [f"{path or DEFAULT_PATH}: {e}; using defaults"]
    return parse_config(text, path or DEFAULT_PATH)
