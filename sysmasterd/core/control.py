"""What every type that runs commands shares about them (systemd's ExecStatus, exit_status_set and
the exit messages of service.c/socket.c/mount.c): the runtime record of each command, whether an
exit counts as success, and how an exit reads in the log and in a stop command's environment."""

from __future__ import annotations

import signal
from dataclasses import dataclass, field

from compat.exitstatus import exit_status_name
from compat.model import ExitStatusSet
from sysmasterd.core.clock import DualTimestamp

CLD_EXITED, CLD_KILLED, CLD_DUMPED = 1, 2, 3
# Signals a daemon may die from and still count as a clean exit (systemd's EXIT_CLEAN_DAEMON).
CLEAN_SIGNALS = frozenset({signal.SIGHUP, signal.SIGINT, signal.SIGTERM, signal.SIGPIPE})


@dataclass
class ExecStatus:
    """Runtime record of one command, as the Exec*= D-Bus arrays show it."""

    start: DualTimestamp = field(default_factory=DualTimestamp)
    exit: DualTimestamp = field(default_factory=DualTimestamp)
    pid: int = 0
    code: int = 0  # CLD_EXITED / CLD_KILLED / CLD_DUMPED
    status: int = 0

    def to_list(self) -> list[int]:
        return [*self.start.to_list(), *self.exit.to_list(), self.pid, self.code, self.status]

    @classmethod
    def from_list(cls, v: list[int]) -> ExecStatus:
        return cls(DualTimestamp(v[0], v[1]), DualTimestamp(v[2], v[3]), v[4], v[5], v[6])


def is_success(code: int, status: int, success: ExitStatusSet, clean_signals: bool) -> bool:
    """Exit 0, or a status/signal SuccessExitStatus= names; for daemons also the clean signals."""
    if code == CLD_EXITED:
        return status == 0 or status in success.statuses
    if clean_signals and status in CLEAN_SIGNALS:
        return True
    return status in success.signals


def describe_exit(code: int, status: int) -> str:
    """"code=exited, status=203/EXEC" or "code=killed, status=15/TERM", as systemd logs it."""
    if code == CLD_EXITED:
        return f"code=exited, status={status}/{exit_status_name(status) or 'n/a'}"
    return f"code={'dumped' if code == CLD_DUMPED else 'killed'}, status={status}/{signal_name(status)}"


def exit_environment(main: ExecStatus) -> dict[str, str]:
    """$EXIT_CODE and $EXIT_STATUS of the main process, for ExecStop=/ExecStopPost= commands."""
    if not main.exit:
        return {}
    return {"EXIT_CODE": {CLD_EXITED: "exited", CLD_KILLED: "killed", CLD_DUMPED: "dumped"}.get(main.code, "exited"),
            "EXIT_STATUS": str(main.status) if main.code == CLD_EXITED else signal_name(main.status)}


def signal_name(signo: int) -> str:
    try:
        return signal.Signals(signo).name.removeprefix("SIG")
    except ValueError:
        return str(signo)
