"""The manager's log: console (stderr), kmsg or a file, with systemd's level names."""

from __future__ import annotations

import logging
import sys

# systemd's level names, in syslog priority order (LogLevel=3 is "err").
LOG_LEVELS = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")
LEVELS = {"emerg": logging.CRITICAL, "alert": logging.CRITICAL, "crit": logging.CRITICAL, "err": logging.ERROR,
          "warning": logging.WARNING, "notice": logging.INFO, "info": logging.INFO, "debug": logging.DEBUG}
# kmsg priorities for the <N> prefix.
_KMSG_PRIO = {logging.CRITICAL: 2, logging.ERROR: 3, logging.WARNING: 4, logging.INFO: 6, logging.DEBUG: 7}


class _KmsgHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.f = open("/dev/kmsg", "w")  # noqa: SIM115 - held for the daemon's lifetime

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.f.write(f"<{_KMSG_PRIO.get(record.levelno, 6)}>sysmasterd: {self.format(record)}\n")
            self.f.flush()
        except OSError:
            pass


def set_level(level: str) -> None:
    logging.getLogger("sysmasterd").setLevel(LEVELS.get(level, logging.INFO))


def setup(level: str, target: str) -> logging.Logger:
    set_level(level)
    log = logging.getLogger("sysmasterd")
    log.handlers.clear()
    handler: logging.Handler
    if target == "kmsg":
        try:
            handler = _KmsgHandler()
        except OSError:
            handler = logging.StreamHandler(sys.stderr)
    elif target.startswith("file:"):
        handler = logging.FileHandler(target[5:])
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s" if target == "kmsg" else "%(asctime)s %(message)s"))
    log.addHandler(handler)
    log.propagate = False
    return log
