"""Log level and target of the manager: org.freedesktop.LogControl1 (`systemctl log-level`,
`log-target`) and the same two properties on the Manager interface."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from sysmasterd.bus import actions, errors
from sysmasterd.bus.iface import Interface, prop, setter
from sysmasterd.core.log import LEVELS

if TYPE_CHECKING:
    from sysmasterd.bus.router import Call

LOG_PATH = "/org/freedesktop/LogControl1"
_MANAGER_LOG = "sysmasterd"
_TARGETS = ("console", "kmsg", "journal", "journal-or-kmsg", "syslog", "auto", "null")


class LogSettings:
    """What was last set; the manager's logger follows the level (the target is only reported)."""

    def __init__(self) -> None:
        current = logging.getLogger(_MANAGER_LOG).getEffectiveLevel()
        self.level = next((name for name, value in LEVELS.items() if value == current), "info")
        self.target = "console"

    async def set_level(self, call: Call, value: str) -> None:
        if value not in LEVELS:
            raise errors.invalid_args(f"Invalid log level '{value}'")
        await call.authorize(actions.SET_ENVIRONMENT)
        self.level = value
        logging.getLogger(_MANAGER_LOG).setLevel(LEVELS[value])

    async def set_target(self, call: Call, value: str) -> None:
        if value not in _TARGETS:
            raise errors.invalid_args(f"Invalid log target '{value}'")
        await call.authorize(actions.SET_ENVIRONMENT)
        self.target = value


class LogControlInterface(Interface):
    name = "org.freedesktop.LogControl1"

    def __init__(self, settings: LogSettings) -> None:
        self._settings = settings
        super().__init__()

    @prop("LogLevel")
    def log_level(self, _target: Any) -> str:
        return self._settings.level

    @setter("LogLevel")
    async def set_log_level(self, call: Call, _target: Any, value: str) -> None:
        await self._settings.set_level(call, value)

    @prop("LogTarget")
    def log_target(self, _target: Any) -> str:
        return self._settings.target

    @setter("LogTarget")
    async def set_log_target(self, call: Call, _target: Any, value: str) -> None:
        await self._settings.set_target(call, value)

    @prop("SyslogIdentifier")
    def syslog_identifier(self, _target: Any) -> str:
        return "sysmasterd"
