"""D-Bus errors with systemd's names; systemctl maps the names to exit codes and prints the text."""

from __future__ import annotations

import errno

from dbus_fast import DBusError

from sysmasterd.core.errors import ManagerError

PREFIX = "org.freedesktop.systemd1."

NO_SUCH_UNIT = PREFIX + "NoSuchUnit"
NO_UNIT_FOR_PID = PREFIX + "NoUnitForPID"
UNIT_EXISTS = PREFIX + "UnitExists"
LOAD_FAILED = PREFIX + "LoadFailed"
BAD_UNIT_SETTING = PREFIX + "BadUnitSetting"
JOB_FAILED = PREFIX + "JobFailed"
NO_SUCH_JOB = PREFIX + "NoSuchJob"
NOT_SUBSCRIBED = PREFIX + "NotSubscribed"
ALREADY_SUBSCRIBED = PREFIX + "AlreadySubscribed"
ONLY_BY_DEPENDENCY = PREFIX + "OnlyByDependency"
TRANSACTION_JOBS_CONFLICTING = PREFIX + "TransactionJobsConflicting"
TRANSACTION_ORDER_IS_CYCLIC = PREFIX + "TransactionOrderIsCyclic"
TRANSACTION_IS_DESTRUCTIVE = PREFIX + "TransactionIsDestructive"
UNIT_MASKED = PREFIX + "UnitMasked"
UNIT_GENERATED = PREFIX + "UnitGenerated"
UNIT_LINKED = PREFIX + "UnitLinked"
JOB_TYPE_NOT_APPLICABLE = PREFIX + "JobTypeNotApplicable"
NO_ISOLATION = PREFIX + "NoIsolation"
SHUTTING_DOWN = PREFIX + "ShuttingDown"
NO_SUCH_PROCESS = PREFIX + "NoSuchProcess"

INVALID_ARGS = "org.freedesktop.DBus.Error.InvalidArgs"
NOT_SUPPORTED = "org.freedesktop.DBus.Error.NotSupported"
ACCESS_DENIED = "org.freedesktop.DBus.Error.AccessDenied"
UNKNOWN_METHOD = "org.freedesktop.DBus.Error.UnknownMethod"
UNKNOWN_OBJECT = "org.freedesktop.DBus.Error.UnknownObject"
UNKNOWN_INTERFACE = "org.freedesktop.DBus.Error.UnknownInterface"
UNKNOWN_PROPERTY = "org.freedesktop.DBus.Error.UnknownProperty"
PROPERTY_READ_ONLY = "org.freedesktop.DBus.Error.PropertyReadOnly"
FAILED = "org.freedesktop.DBus.Error.Failed"
INTERACTIVE_AUTHORIZATION_REQUIRED = "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired"

def bus_error(name: str, text: str) -> DBusError:
    return DBusError(name, text)


def invalid_args(text: str) -> DBusError:
    return DBusError(INVALID_ARGS, text)


def not_supported(what: str) -> DBusError:
    return DBusError(NOT_SUPPORTED, f"{what} is not supported by sysmasterd.")


# sd-bus's names for errnos (bus-common-errors/bus-error.c's table); others are System.Error.<NAME>.
_ERRNO_NAMES = {errno.ENOENT: "org.freedesktop.DBus.Error.FileNotFound", errno.EACCES: ACCESS_DENIED,
                errno.EPERM: ACCESS_DENIED, errno.EINVAL: INVALID_ARGS, errno.EOPNOTSUPP: NOT_SUPPORTED,
                errno.ENOMEM: "org.freedesktop.DBus.Error.NoMemory",
                errno.EBADMSG: "org.freedesktop.DBus.Error.InconsistentMessage"}


def errno_error(err: int, text: str) -> DBusError:
    """sd_bus_error_set_errnof(): the errno's D-Bus name, `text` with %m already filled in."""
    name = _ERRNO_NAMES.get(err) or "System.Error." + errno.errorcode.get(err, "EIO")
    return DBusError(name, text)


def from_exception(exc: Exception) -> DBusError | None:
    """The D-Bus error an exception stands for (the core's errors carry systemd's names), or None."""
    if isinstance(exc, DBusError):
        return exc
    if isinstance(exc, ManagerError):
        return DBusError(exc.name, exc.message)
    if isinstance(exc, PermissionError):
        return DBusError(ACCESS_DENIED, str(exc) or "Access denied.")
    return None
