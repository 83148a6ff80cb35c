"""[Service] directives -> ServiceSection, and the checks systemd applies once a service is loaded."""

from __future__ import annotations

import re

from compat import unitname
from compat.config_oom import parse_oom_policy
from compat.model import (
    EmergencyAction,
    ExitStatusSet,
    NotifyAccess,
    ServiceRestart,
    ServiceSection,
    ServiceType,
    TimeoutFailureMode,
    UnitConfig,
)
from compat.settings import (
    Handler,
    Invalid,
    ParseContext,
    Refuse,
    checked_path,
    enum_of,
    exec_list,
    plain,
    setter,
    words,
)
from compat.values import (
    parse_boolean,
    parse_exit_status_set,
    parse_sec_fix_0,
    parse_timespan,
    parse_unsigned,
)
from compat.words import Extract


def _service(cfg: UnitConfig) -> ServiceSection:
    assert cfg.service is not None  # handlers of this table only run for .service units
    return cfg.service


_bool = plain(parse_boolean, "Failed to parse boolean value")
_sec = plain(parse_timespan, "Failed to parse sec value")
_sec_fix_0 = plain(parse_sec_fix_0, "Failed to parse sec value")


def _exec_list(attr: str) -> Handler:
    return exec_list(_service, attr)


def _timeout(*attrs: str, message: str = "Failed to parse {key}= parameter", reset: bool = False) -> Handler:
    def handle(cfg: UnitConfig, value: str, ctx: ParseContext) -> None:
        service = _service(cfg)
        if reset and value == "":
            for attr in attrs:
                setattr(service, attr, None)
            return
        try:
            usec = parse_sec_fix_0(value)
        except ValueError:
            raise Invalid(message.format(key=ctx.current.key if ctx.current else "Timeout")) from None
        for attr in attrs:
            setattr(service, attr, usec)

    return handle


def _exit_statuses(attr: str) -> Handler:
    def handle(cfg: UnitConfig, value: str, ctx: ParseContext) -> None:
        target: ExitStatusSet = getattr(_service(cfg), attr)
        if value == "":
            target.statuses.clear()
            target.signals.clear()
            return
        for word in value.split():
            try:
                parse_exit_status_set(word, target)
            except ValueError:
                ctx.warn(f"Failed to parse value, ignoring: {word}")

    return handle


def _pid_file(value: str, ctx: ParseContext) -> str:
    path = ctx.printf(value)
    if not path.startswith("/"):
        # systemd 252 resolves relative PID files below /run.
        path = "/run/" + path
    try:
        return checked_path(path, "PIDFile")
    except Invalid as e:
        # The message says "ignoring", but systemd 252 then fails the whole file with EINVAL.
        raise Refuse(str(e), errno_text="Invalid argument") from None


def _exit_type(value: str, ctx: ParseContext) -> str:
    if value not in ("main", "cgroup"):
        raise Invalid("Failed to parse service exit type")
    return value


_BUS_ELEMENT = re.compile(r"[A-Za-z0-9_-]+")


def bus_name_is_valid(name: str) -> bool:
    """sd_bus_service_name_is_valid(): `org.example.Foo` or a unique name like `:1.42`."""
    unique = name.startswith(":")
    parts = (name[1:] if unique else name).split(".")
    if len(name) > 255 or len(parts) < 2:
        return False
    return all(_BUS_ELEMENT.fullmatch(p) and (unique or not p[0].isdigit()) for p in parts)


def _bus_name(value: str, ctx: ParseContext) -> str:
    name = ctx.printf(value, quote="")
    if not bus_name_is_valid(name):
        raise Invalid(f"Invalid bus name, ignoring: {name}", complete=True)
    return name


def _sockets(cfg: UnitConfig, value: str, ctx: ParseContext) -> None:
    """config_parse_service_sockets(): socket unit names, appended; anything else is warned about."""
    target = _service(cfg).sockets
    for word in words(value, Extract(0)):  # systemd splits without unquoting here
        try:
            name = ctx.name_printf(word)
        except Invalid as e:
            ctx.warn(e.render(word))
            continue
        if not name.endswith(".socket"):
            ctx.warn(f"Unit must be of type socket, ignoring: {name}")
        elif not unitname.is_valid(name, template=False):
            ctx.warn(f"Failed to add dependency on {name}, ignoring: Invalid argument")
        elif name not in target:
            target.append(name)


SERVICE_HANDLERS: dict[str, Handler] = {
    "Type": setter(_service, "type", enum_of(ServiceType, "service type")),
    "ExitType": setter(_service, "exit_type", _exit_type),
    "Restart": setter(_service, "restart", enum_of(ServiceRestart, "service restart specifier")),
    "PIDFile": setter(_service, "pid_file", _pid_file, reset=True),
    "ExecCondition": _exec_list("exec_condition"),
    "ExecStartPre": _exec_list("exec_start_pre"),
    "ExecStart": _exec_list("exec_start"),
    "ExecStartPost": _exec_list("exec_start_post"),
    "ExecReload": _exec_list("exec_reload"),
    "ExecStop": _exec_list("exec_stop"),
    "ExecStopPost": _exec_list("exec_stop_post"),
    "RestartSec": setter(_service, "restart_usec", _sec),
    "TimeoutSec": _timeout("timeout_start_usec", "timeout_stop_usec"),
    "TimeoutStartSec": _timeout("timeout_start_usec"),
    "TimeoutStopSec": _timeout("timeout_stop_usec", message="Failed to parse time value"),
    "TimeoutAbortSec": _timeout("timeout_abort_usec", message="Failed to parse {key}= setting", reset=True),
    "TimeoutStartFailureMode": setter(
        _service, "timeout_start_failure_mode", enum_of(TimeoutFailureMode, "timeout failure mode")
    ),
    "TimeoutStopFailureMode": setter(
        _service, "timeout_stop_failure_mode", enum_of(TimeoutFailureMode, "timeout failure mode")
    ),
    "RuntimeMaxSec": setter(_service, "runtime_max_usec", _sec),
    "WatchdogSec": setter(_service, "watchdog_usec", _sec),
    "RemainAfterExit": setter(_service, "remain_after_exit", _bool),
    "GuessMainPID": setter(_service, "guess_main_pid", _bool),
    "PermissionsStartOnly": setter(_service, "permissions_start_only", _bool),
    "RootDirectoryStartOnly": setter(_service, "root_directory_start_only", _bool),
    "NonBlocking": setter(_service, "non_blocking", _bool),
    "RestartPreventExitStatus": _exit_statuses("restart_prevent_exit_status"),
    "RestartForceExitStatus": _exit_statuses("restart_force_exit_status"),
    "SuccessExitStatus": _exit_statuses("success_exit_status"),
    "BusName": setter(_service, "bus_name", _bus_name),
    "FileDescriptorStoreMax": setter(
        _service, "file_descriptor_store_max", plain(parse_unsigned, "Failed to parse unsigned value")
    ),
    "NotifyAccess": setter(_service, "notify_access", enum_of(NotifyAccess, "notify access specifier")),
    "Sockets": _sockets,
    "OOMPolicy": setter(_service, "oom_policy", parse_oom_policy),
}


def effective_type(s: ServiceSection) -> ServiceType:
    """Type= as systemd fills it in when unset: dbus with BusName=, simple with ExecStart=, else oneshot."""
    if s.type is not None:
        return s.type
    if s.bus_name:
        return ServiceType.DBUS
    return ServiceType.SIMPLE if s.exec_start else ServiceType.ONESHOT


def verify_service(cfg: UnitConfig) -> str | None:
    """systemd's service_verify(): the reason a loaded service is refused, or None."""
    s = cfg.service
    assert s is not None
    no_success_action = cfg.unit.success_action is EmergencyAction.NONE
    oneshot = effective_type(s) is ServiceType.ONESHOT
    if not s.exec_start and not s.exec_stop and no_success_action:
        return "Service has no ExecStart=, ExecStop=, or SuccessAction=. Refusing."
    if not oneshot and not s.exec_start:
        return "Service has no ExecStart= setting, which is only allowed for Type=oneshot services. Refusing."
    if not s.remain_after_exit and not s.exec_start and no_success_action:
        return (
            "Service has no ExecStart= and no SuccessAction= settings and does not have "
            "RemainAfterExit=yes set. Refusing."
        )
    if not oneshot and len(s.exec_start) > 1:
        return (
            "Service has more than one ExecStart= setting, which is only allowed for Type=oneshot "
            "services. Refusing."
        )
    if oneshot and s.restart in (ServiceRestart.ALWAYS, ServiceRestart.ON_SUCCESS):
        return (
            "Service has Restart= set to either always or on-success, which isn't allowed for "
            "Type=oneshot services. Refusing."
        )
    if oneshot and s.restart_force_exit_status:
        return (
            "Service has RestartForceExitStatus= set, which isn't allowed for Type=oneshot services. "
            "Refusing."
        )
    if oneshot and s.exit_type == "cgroup":
        return "Service has ExitType=cgroup set, which isn't allowed for Type=oneshot services. Refusing."
    if effective_type(s) is ServiceType.DBUS and not s.bus_name:
        return "Service is of type D-Bus but no D-Bus service name has been specified. Refusing."
    return None
