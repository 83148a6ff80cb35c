"""[Unit] and [Install] directives -> UnitSection / InstallSection."""

from __future__ import annotations

from compat import directives
from compat.model import (
    CollectMode,
    Condition,
    ConditionKind,
    EmergencyAction,
    JobMode,
    UnitConfig,
)
from compat.settings import (
    Handler,
    Invalid,
    ParseContext,
    checked_path,
    enum_of,
    path,
    path_setting,
    plain,
    setter,
    string,
    string_list,
    unit_names,
    words,
)
from compat.values import parse_boolean, parse_int, parse_sec_fix_0, parse_timespan, parse_unsigned


def _unit(cfg: UnitConfig) -> object:
    return cfg.unit


def _install(cfg: UnitConfig) -> object:
    return cfg.install


_bool = plain(parse_boolean, "Failed to parse boolean value")
_sec = plain(parse_timespan, "Failed to parse sec value")


def _sec_fix_0(value: str, ctx: ParseContext) -> int:
    try:
        return parse_sec_fix_0(value)
    except ValueError:
        key = ctx.current.key if ctx.current else "timeout"
        raise Invalid(f"Failed to parse {key}= parameter") from None


_action = enum_of(EmergencyAction)
_job_mode = enum_of(JobMode, "job mode")


def _exit_status(value: str, ctx: ParseContext) -> int:
    try:
        status = parse_int(value, -(1 << 31), (1 << 31) - 1)
    except ValueError:
        raise Invalid(f"Failed to parse exit status '{value}', ignoring: Invalid argument", complete=True) from None
    if not 0 <= status <= 255:
        raise Invalid(f"Failed to parse exit status '{value}', ignoring: Numerical result out of range",
                      complete=True)
    return status


def _documentation(cfg: UnitConfig, value: str, ctx: ParseContext) -> None:
    if value == "":
        cfg.unit.documentation.clear()
        return
    for word in words(value):
        url = ctx.printf(word)
        if not url:
            continue
        scheme = url.partition(":")[0]
        if scheme not in ("http", "https", "file", "info", "man") or url == scheme + ":":
            ctx.warn(f"Invalid URL, ignoring: {url}")
            continue
        if url not in cfg.unit.documentation:
            cfg.unit.documentation.append(url)


def _obsolete_dep(replacement: str) -> Handler:
    add = unit_names(_unit, replacement)
    directive = "".join(part.capitalize() for part in replacement.split("_"))

    def handle(cfg: UnitConfig, value: str, ctx: ParseContext) -> None:
        lvalue = ctx.current.key if ctx.current else directive
        ctx.warn(
            f"Unit dependency type {lvalue}= is obsolete, replacing by {directive}=, "
            "please update your unit file"
        )
        add(cfg, value, ctx)

    return handle


def _on_failure_isolate(cfg: UnitConfig, value: str, ctx: ParseContext) -> None:
    isolate = plain(parse_boolean, "Failed to parse boolean")(value, ctx)
    cfg.unit.on_failure_job_mode = JobMode.ISOLATE if isolate else JobMode.REPLACE


def _start_limit_burst(value: str, ctx: ParseContext) -> int:
    return plain(parse_unsigned, "Failed to parse unsigned value")(value, ctx)


# Condition*/Assert* whose parameter is an absolute path.
_PATH_CONDITIONS = frozenset(
    {
        "PathExists", "PathExistsGlob", "PathIsDirectory", "PathIsSymbolicLink", "PathIsMountPoint",
        "PathIsReadWrite", "PathIsEncrypted", "DirectoryNotEmpty", "FileNotEmpty", "FileIsExecutable",
        "NeedsUpdate",
    }
)  # fmt: skip


def _condition(kind: ConditionKind, name: str) -> Handler:
    def handle(cfg: UnitConfig, value: str, ctx: ParseContext) -> None:
        conditions = cfg.unit.conditions
        if value == "":
            conditions[:] = [c for c in conditions if not (c.kind is kind and c.name == name)]
            return
        trigger = value.startswith("|")
        if trigger:
            value = value[1:].lstrip()
        negate = value.startswith("!")
        if negate:
            value = value[1:].lstrip()
        parameter = ctx.printf(value, quote="" if name in _PATH_CONDITIONS else "'")
        if name in _PATH_CONDITIONS:
            parameter = checked_path(parameter, kind.value + name)
        conditions.append(Condition(kind, name, parameter, trigger=trigger, negate=negate))

    return handle


def _conditions() -> dict[str, Handler]:
    table: dict[str, Handler] = {}
    for key in directives.SECTIONS["Unit"]:
        for kind in ConditionKind:
            if key.startswith(kind.value):
                table[key] = _condition(kind, key[len(kind.value) :])
    return table


_DEPENDENCIES = {
    "Requires": "requires", "Requisite": "requisite", "Wants": "wants", "BindsTo": "binds_to",
    "BindTo": "binds_to", "PartOf": "part_of", "Upholds": "upholds", "Conflicts": "conflicts",
    "Before": "before", "After": "after", "OnFailure": "on_failure", "OnSuccess": "on_success",
    "PropagatesReloadTo": "propagates_reload_to", "PropagateReloadTo": "propagates_reload_to",
    "ReloadPropagatedFrom": "reload_propagated_from", "PropagateReloadFrom": "reload_propagated_from",
    "PropagatesStopTo": "propagates_stop_to", "StopPropagatedFrom": "stop_propagated_from",
    "JoinsNamespaceOf": "joins_namespace_of",
}  # fmt: skip

UNIT_HANDLERS: dict[str, Handler] = {
    "Description": setter(_unit, "description", string, reset=True),
    "Documentation": _documentation,
    "SourcePath": path_setting(_unit, "source_path"),
    **{key: unit_names(_unit, attr) for key, attr in _DEPENDENCIES.items()},
    "RequiresOverridable": _obsolete_dep("requires"),
    "RequisiteOverridable": _obsolete_dep("requisite"),
    "RequiresMountsFor": string_list(_unit, "requires_mounts_for", path),
    "StopWhenUnneeded": setter(_unit, "stop_when_unneeded", _bool),
    "RefuseManualStart": setter(_unit, "refuse_manual_start", _bool),
    "RefuseManualStop": setter(_unit, "refuse_manual_stop", _bool),
    "AllowIsolate": setter(_unit, "allow_isolate", _bool),
    "DefaultDependencies": setter(_unit, "default_dependencies", _bool),
    "OnSuccessJobMode": setter(_unit, "on_success_job_mode", _job_mode),
    "OnFailureJobMode": setter(_unit, "on_failure_job_mode", _job_mode),
    "OnFailureIsolate": _on_failure_isolate,
    "IgnoreOnIsolate": setter(_unit, "ignore_on_isolate", _bool),
    "JobTimeoutSec": setter(_unit, "job_timeout_usec", _sec_fix_0),
    "JobRunningTimeoutSec": setter(_unit, "job_running_timeout_usec", _sec_fix_0),
    "JobTimeoutAction": setter(_unit, "job_timeout_action", _action),
    "JobTimeoutRebootArgument": setter(_unit, "job_timeout_reboot_argument", string, reset=True),
    "StartLimitIntervalSec": setter(_unit, "start_limit_interval_usec", _sec),
    "StartLimitInterval": setter(_unit, "start_limit_interval_usec", _sec),
    "StartLimitBurst": setter(_unit, "start_limit_burst", _start_limit_burst),
    "StartLimitAction": setter(_unit, "start_limit_action", _action),
    "FailureAction": setter(_unit, "failure_action", _action),
    "SuccessAction": setter(_unit, "success_action", _action),
    "FailureActionExitStatus": setter(_unit, "failure_action_exit_status", _exit_status, reset=True),
    "SuccessActionExitStatus": setter(_unit, "success_action_exit_status", _exit_status, reset=True),
    "RebootArgument": setter(_unit, "reboot_argument", string, reset=True),
    "CollectMode": setter(_unit, "collect_mode", enum_of(CollectMode, "garbage collection mode")),
    **_conditions(),
}

# [Service] still accepts these [Unit] settings under their old names.
LEGACY_SERVICE_HANDLERS: dict[str, Handler] = {
    key: UNIT_HANDLERS[key]
    for key in (
        "StartLimitInterval", "StartLimitBurst", "StartLimitAction", "FailureAction", "RebootArgument"
    )
}


def _install_name(value: str, ctx: ParseContext) -> str:
    return ctx.name_printf(value)


INSTALL_HANDLERS: dict[str, Handler] = {
    "Alias": string_list(_install, "alias", _install_name),
    "WantedBy": string_list(_install, "wanted_by", _install_name),
    "RequiredBy": string_list(_install, "required_by", _install_name),
    "Also": string_list(_install, "also", _install_name),
    "DefaultInstance": setter(_install, "default_instance", _install_name, reset=True),
}
