"""Errors the manager raises for bad requests, carrying systemd's D-Bus error names and messages.

systemctl prints the message verbatim and derives its exit code from the name, so both matter.
"""

from __future__ import annotations

_PREFIX = "org.freedesktop.systemd1."


class ManagerError(Exception):
    """A request the manager refused. `name` is the D-Bus error name."""

    name = "org.freedesktop.DBus.Error.Failed"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _error(short: str, full: str | None = None) -> type[ManagerError]:
    cls = type(short, (ManagerError,), {"name": full or _PREFIX + short})
    return cls


NoSuchUnit = _error("NoSuchUnit")
NoUnitForPID = _error("NoUnitForPID")
UnitExists = _error("UnitExists")
LoadFailed = _error("LoadFailed")
BadUnitSetting = _error("BadUnitSetting")
JobFailed = _error("JobFailed")
NoSuchJob = _error("NoSuchJob")
NotSubscribed = _error("NotSubscribed")
AlreadySubscribed = _error("AlreadySubscribed")
OnlyByDependency = _error("OnlyByDependency")
TransactionJobsConflicting = _error("TransactionJobsConflicting")
TransactionOrderIsCyclic = _error("TransactionOrderIsCyclic")
TransactionIsDestructive = _error("TransactionIsDestructive")
UnitMasked = _error("UnitMasked")
UnitGenerated = _error("UnitGenerated")
UnitLinked = _error("UnitLinked")
JobTypeNotApplicable = _error("JobTypeNotApplicable")
NoIsolation = _error("NoIsolation")
ShuttingDown = _error("ShuttingDown")
NoSuchProcess = _error("NoSuchProcess")
UnitInactive = _error("UnitInactive")
InvalidArgs = _error("InvalidArgs", "org.freedesktop.DBus.Error.InvalidArgs")
NotSupported = _error("NotSupported", "org.freedesktop.DBus.Error.NotSupported")
AccessDenied = _error("AccessDenied", "org.freedesktop.DBus.Error.AccessDenied")
