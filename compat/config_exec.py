"""Exec, kill and cgroup context directives (shared by [Service] and, later, other types)."""

from __future__ import annotations

import base64
import binascii
import re

from compat import unitname
from compat.config_access import ACCESS_HANDLERS
from compat.config_log import LOG_HANDLERS
from compat.config_oom import MANAGED_OOM_HANDLERS
from compat.config_resources import RESOURCE_HANDLERS
from compat.config_sandbox import SANDBOX_HANDLERS
from compat.execline import env_name_is_valid, env_value_is_valid, parse_environment
from compat.model import (
    DirectorySetting,
    EnvironmentFile,
    IOSchedulingClass,
    KillMode,
    Severity,
    StdInput,
    StdOutput,
    UnitConfig,
)
from compat.settings import (
    Handler,
    Invalid,
    ParseContext,
    Refuse,
    checked_path,
    enum_of,
    path_setting,
    plain,
    setter,
    string,
    words,
)
from compat.values import (
    RLIMIT_NAMES,
    UINT64_MAX,
    c_integer,
    parse_boolean,
    parse_cpu_set,
    parse_int,
    parse_mode,
    parse_permyriad,
    parse_rlimit,
    signal_from_string,
)
from compat.words import Extract, cunescape


def _exec(cfg: UnitConfig) -> object:
    return cfg.exec


def _kill(cfg: UnitConfig) -> object:
    return cfg.kill


def _cgroup(cfg: UnitConfig) -> object:
    return cfg.cgroup


_bool = plain(parse_boolean, "Failed to parse boolean value")
_mode = plain(parse_mode, "Failed to parse mode value")
_signal = plain(signal_from_string, "Failed to parse signal name")

# ---------------------------------------------------------------------------------------------
# Credentials, directories


def valid_user_group_name(name: str) -> bool:
    """systemd's relaxed user/group name check (VALID_USER_RELAX | VALID_USER_ALLOW_NUMERIC)."""
    if not name:
        return False
    if name.isascii() and name.isdigit():
        # parse_uid() is decimal without leading zeros; other all-digit names are refused.
        uid = int(name)
        return (name == "0" or name[0] != "0") and uid < 0xFFFFFFFF and uid != 0xFFFF
    if name[0] == " " or name[-1] == " " or any(c < " " or c == "\x7f" for c in name):
        return False
    if ":" in name or "/" in name or name in (".", ".."):
        return False
    return not (name[0] == "-" and name[1:].isascii() and name[1:].isdigit())


def _user(value: str, ctx: ParseContext) -> str:
    name = _user_or_group(value, ctx)
    if name == "nobody":
        ctx.warn("Special user nobody configured, this is not safe!", Severity.NOTICE)
    return name


def _user_or_group(value: str, ctx: ParseContext) -> str:
    try:
        name = ctx.expand_or_reason(value)
    except ValueError as e:
        raise Refuse(f"Failed to resolve unit specifiers in {value}: {e}") from None
    if not valid_user_group_name(name):
        raise Refuse(f"Invalid user/group name or numeric ID: {name}")
    return name


def _supplementary_groups(cfg: UnitConfig, value: str, ctx: ParseContext) -> None:
    if value == "":
        cfg.exec.supplementary_groups.clear()
        return
    try:
        groups = words(value)
    except Invalid:
        raise Refuse(f"Invalid syntax: {value}") from None
    for word in groups:
        cfg.exec.supplementary_groups.append(_user_or_group(word, ctx))


def _working_directory(cfg: UnitConfig, value: str, ctx: ParseContext) -> None:
    if value == "":
        cfg.exec.working_directory = None
        cfg.exec.working_directory_missing_ok = False
        return
    missing_ok = value.startswith("-")
    if missing_ok:
        value = value[1:]
    if value == "~":
        resolved = "~"
    else:
        try:
            expanded = ctx.expand_or_reason(value)
        except ValueError as e:
            message = f"Failed to resolve unit specifiers in working directory path '{value}'"
            if missing_ok:
                raise Invalid(f"{message}, ignoring: {e}", complete=True) from None
            raise Refuse(f"{message}: {e}") from None
        resolved = checked_path(expanded, "WorkingDirectory", fatal=not missing_ok)
    cfg.exec.working_directory = resolved
    cfg.exec.working_directory_missing_ok = missing_ok


def _directories(attr: str) -> Handler:
    def handle(cfg: UnitConfig, value: str, ctx: ParseContext) -> None:
        target: list[DirectorySetting] = getattr(cfg.exec, attr)
        if value == "":
            target.clear()
            return
        for word in words(value):
            # "path:symlink" (systemd 250+) is accepted; the symlink part is not created yet.
            source, colon, _symlink = word.partition(":")
            if colon and attr == "configuration_directory":
                ctx.warn(f"Destination parameter is not supported for ConfigurationDirectory, ignoring: {word}")
                continue
            try:
                rel = ctx.printf(source, quote='"')
            except Invalid as e:
                ctx.warn(str(e))
                continue
            if not rel:
                ctx.warn(f"{_attr_key(attr)}= path has invalid length (0 bytes), ignoring.")
                continue
            absolute = next((p for p in (rel, _symlink) if p.startswith("/")), None)
            if absolute is not None:
                ctx.warn(f"{_attr_key(attr)}= path is absolute, ignoring: {absolute}")
                continue
            if ".." in rel.split("/"):
                ctx.warn(f"{_attr_key(attr)}= path is not normalized, ignoring: {rel}")
                continue
            rel = "/".join(p for p in rel.split("/") if p not in ("", "."))
            if all(d.path != rel for d in target):
                target.append(DirectorySetting(rel))
        # systemd keeps them sorted by path so that parents are created before children.
        target.sort(key=lambda d: d.path.split("/"))

    return handle


def _attr_key(attr: str) -> str:
    return "".join(p.capitalize() for p in attr.split("_"))


def _preserve(value: str, ctx: ParseContext) -> str:
    if value == "restart":
        return value
    try:
        return "yes" if parse_boolean(value) else "no"
    except ValueError:
        raise Invalid("Failed to parse runtime directory preserve mode") from None


# ---------------------------------------------------------------------------------------------
# Environment


def _environment(cfg: UnitConfig, value: str, ctx: ParseContext) -> None:
    if value == "":
        cfg.exec.environment.clear()
        return
    assignments, problems = parse_environment(value, ctx.expand_or_reason)
    for problem in problems:
        ctx.warn(problem)
    for name, val in assignments:
        # A later assignment replaces the value in place (strv_env_replace_consume()).
        cfg.exec.environment[name] = val


def _environment_file(cfg: UnitConfig, value: str, ctx: ParseContext) -> None:
    if value == "":
        cfg.exec.environment_files.clear()
        return
    optional = value.startswith("-")
    raw = value[1:] if optional else value
    resolved = ctx.printf(raw)
    if not resolved.startswith("/"):
        raise Invalid(f"EnvironmentFile= path is not absolute, ignoring: {resolved}", complete=True)
    cfg.exec.environment_files.append(EnvironmentFile(resolved, optional))


def _variable_names(attr: str, allow_assignment: bool) -> Handler:
    def handle(cfg: UnitConfig, value: str, ctx: ParseContext) -> None:
        target: list[str] = getattr(cfg.exec, attr)
        if value == "":
            target.clear()
            return
        key = "UnsetEnvironment" if allow_assignment else "PassEnvironment"
        try:
            items = words(value, Extract.UNQUOTE | Extract.CUNESCAPE)
        except Invalid:
            raise Invalid(f"Trailing garbage in {key}, ignoring: {value}", complete=True) from None
        for word in items:
            try:
                name = ctx.expand_or_reason(word)
            except ValueError as e:
                unit_word = "unit " if allow_assignment else ""
                ctx.warn(f"Failed to resolve {unit_word}specifiers in {word}, ignoring: {e}")
                continue
            if allow_assignment:
                var, eq, val = name.partition("=")
                ok = env_name_is_valid(var) and (not eq or env_value_is_valid(val))
            else:
                ok = env_name_is_valid(name)
            if not ok:
                what = "name or assignment" if allow_assignment else "name for"
                ctx.warn(f"Invalid environment {what} {key}, ignoring: {name}")
                continue
            if name not in target:
                target.append(name)

    return handle


# ---------------------------------------------------------------------------------------------
# Standard input/output


def _std_input(cfg: UnitConfig, value: str, ctx: ParseContext) -> None:
    kind, colon, arg = value.partition(":")
    if colon and kind == "file":
        cfg.exec.standard_input_path = ctx.path_printf(arg)
        cfg.exec.standard_input = StdInput.FILE
        return
    if colon and kind == "fd":
        cfg.exec.standard_input = StdInput.FD
        cfg.exec.unsupported["StandardInput"] = value
        return
    choices = {m.value: m for m in StdInput if m not in (StdInput.FILE, StdInput.FD)}
    if value not in choices:
        raise Invalid("Failed to parse input specifier")
    cfg.exec.standard_input = choices[value]


def _std_output(attr: str) -> Handler:
    def handle(cfg: UnitConfig, value: str, ctx: ParseContext) -> None:
        kind, colon, arg = value.partition(":")
        if colon and kind in ("file", "append", "truncate"):
            setattr(cfg.exec, f"{attr}_path", ctx.path_printf(arg))
            setattr(cfg.exec, attr, StdOutput(kind))
            return
        if colon and kind == "fd":
            setattr(cfg.exec, attr, StdOutput.FD)
            cfg.exec.unsupported[_attr_key(attr)] = value
            return
        if value in ("syslog", "syslog+console"):
            replacement = value.replace("syslog", "journal")
            ctx.warn(
                f"Standard output type {value} is obsolete, automatically updating to {replacement}. "
                "Please update your unit file, and consider removing the setting altogether."
            )
            value = replacement
        choices = {m.value: m for m in StdOutput if m not in (StdOutput.FILE, StdOutput.APPEND,
                                                               StdOutput.TRUNCATE, StdOutput.FD)}
        if value not in choices:
            raise Invalid("Failed to parse output specifier")
        setattr(cfg.exec, attr, choices[value])

    return handle


_STDIN_DATA_MAX = 64 * 1024 * 1024


def _append_stdin_data(cfg: UnitConfig, data: bytes) -> None:
    if len(cfg.exec.standard_input_data) + len(data) > _STDIN_DATA_MAX:
        raise Invalid("Standard input data too large")
    cfg.exec.standard_input_data += data


def _stdin_text(cfg: UnitConfig, value: str, ctx: ParseContext) -> None:
    if value == "":
        cfg.exec.standard_input_data = b""
        return
    try:
        text = cunescape(value)
    except ValueError:
        raise Invalid(f"Failed to decode C escaped text '{value}', ignoring: Invalid argument", complete=True) from None
    _append_stdin_data(cfg, (ctx.printf(text) + "\n").encode("utf-8", "surrogateescape"))


def _stdin_data(cfg: UnitConfig, value: str, ctx: ParseContext) -> None:
    if value == "":
        cfg.exec.standard_input_data = b""
        return
    try:
        data = base64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError):
        raise Invalid("Failed to decode base64 data") from None
    _append_stdin_data(cfg, data)


# ---------------------------------------------------------------------------------------------
# Scheduling, limits


def _ranged(value: str, lo: int, hi: int, unparsable: str, out_of_range: str) -> int:
    try:
        number = parse_int(value, -(1 << 63), 1 << 63)
    except ValueError:
        raise Invalid(unparsable, complete=True) from None
    if not lo <= number <= hi:
        raise Invalid(out_of_range)
    return number


def _nice(value: str, ctx: ParseContext) -> int:
    return _ranged(value, -20, 19, f"Failed to parse nice priority '{value}', ignoring: Invalid argument",
                   "Nice priority out of range")


def _oom_score_adjust(value: str, ctx: ParseContext) -> int:
    return _ranged(
        value, -1000, 1000, f"Failed to parse the OOM score adjust value '{value}', ignoring: Invalid argument",
        "OOM score adjust value out of range",
    )


def _io_class_value(value: str, ctx: ParseContext) -> IOSchedulingClass:
    names = {"none": 0, "realtime": 1, "best-effort": 2, "idle": 3}
    number = names.get(value)
    if number is None and value.isascii() and value.isdigit() and int(value) <= 3:
        number = int(value)
    if number is None:
        raise Invalid("Failed to parse IO scheduling class")
    return IOSchedulingClass(number)


def _io_class(cfg: UnitConfig, value: str, ctx: ParseContext) -> None:
    ex = cfg.exec
    if value == "":
        ex.io_scheduling_class = ex.io_scheduling_priority = None
        return
    cls = _io_class_value(value, ctx)
    if cls is IOSchedulingClass.NONE:
        # "none" means the kernel's default, best-effort at level 4, as systemd normalizes it; the
        # kernel refuses class none with any level set.
        cls, ex.io_scheduling_priority = IOSchedulingClass.BEST_EFFORT, 4
    ex.io_scheduling_class = cls


def _io_priority(value: str, ctx: ParseContext) -> int:
    return plain(lambda v: parse_int(v, 0, 7), "Failed to parse IO priority")(value, ctx)


def _cpu_affinity(cfg: UnitConfig, value: str, ctx: ParseContext) -> None:
    if value == "":
        cfg.exec.cpu_affinity.clear()
        return
    if value == "numa":
        raise Invalid("CPUAffinity=numa is not supported by sysmaster")
    try:
        cpus = parse_cpu_set(ctx.printf(value))
    except Invalid:
        raise
    except ValueError as e:
        raise Invalid(f"Failed to parse CPU affinity '{e}'", complete=True) from None
    cfg.exec.cpu_affinity = sorted(set(cfg.exec.cpu_affinity) | set(cpus))


_PERSONALITIES = frozenset(
    {"x86", "x86-64", "arm64", "arm64-be", "arm", "arm-be", "alpha", "mips", "mips-le", "mips64",
     "mips64-le", "parisc", "parisc64", "ppc", "ppc-le", "ppc64", "ppc64-le", "s390", "s390x",
     "sh", "sh64", "sparc", "sparc64", "ia64", "riscv32", "riscv64", "loongarch64"}
)  # fmt: skip


def _personality(value: str, ctx: ParseContext) -> str:
    if value not in _PERSONALITIES:
        raise Invalid("Failed to parse personality")
    return value


def _limit(resource_name: str) -> Handler:
    def handle(cfg: UnitConfig, value: str, ctx: ParseContext) -> None:
        try:
            cfg.exec.limits[resource_name] = parse_rlimit(resource_name, value)
        except ValueError as e:
            soft_hard = "Soft resource limit chosen higher than hard limit"
            raise Invalid(soft_hard if str(e) == soft_hard else "Failed to parse resource value") from None

    return handle


# ---------------------------------------------------------------------------------------------
# Kill and cgroup


def _slice(value: str, ctx: ParseContext) -> str:
    name = ctx.name_printf(value, quote="")
    if not unitname.is_valid(name, template=False):
        raise Invalid(f"Failed to load slice unit {name}, ignoring: Unit name {name} is not valid.", complete=True)
    if not name.endswith(".slice"):
        raise Invalid(f"Failed to assign slice {name} to unit {ctx.name}, ignoring: Invalid argument",
                      complete=True)
    return name


# systemd's cgroup controllers, in its order (the order DelegateControllers= lists them in).
CONTROLLERS = ("cpu", "cpuacct", "cpuset", "io", "blkio", "memory", "devices", "pids", "bpf-firewall",
               "bpf-devices", "bpf-foreign", "bpf-socket-bind", "bpf-restrict-network-interfaces")
_CONTROLLERS = frozenset(CONTROLLERS)


def _delegate(cfg: UnitConfig, value: str, ctx: ParseContext) -> None:
    cg = cfg.cgroup
    if value == "":
        cg.delegate, cg.delegate_controllers = False, None
        return
    try:
        on = parse_boolean(value)
    except ValueError:
        pass
    else:
        cg.delegate, cg.delegate_controllers = on, None
        return
    # A controller list ("cpu memory") delegates those controllers, added to any named before
    # (after Delegate=yes, all are delegated already).
    everything = cg.delegate and cg.delegate_controllers is None
    named = list(cg.delegate_controllers or [])
    for word in words(value):
        if word not in _CONTROLLERS:
            ctx.warn(f"Invalid controller name '{word}', ignoring")
        elif word not in named:
            named.append(word)
    cg.delegate, cg.delegate_controllers = True, None if everything else named


def _tasks_max(value: str, ctx: ParseContext) -> int:
    """TasksMax=: a number, a percentage of the system's task limit, or infinity (UINT64_MAX)."""
    if value == "infinity":
        return UINT64_MAX
    try:
        return ctx.facts.tasks_max * parse_permyriad(value) // 10000
    except ValueError:
        pass
    try:
        number = c_integer(value, signed=False)
    except ValueError:
        reason = "Numerical result out of range" if re.fullmatch(r"-[0-9]+", value) else "Invalid argument"
        raise Invalid(f"Invalid maximum tasks value '{value}', ignoring: {reason}", complete=True) from None
    if not 1 <= number < UINT64_MAX:
        raise Invalid(f"Maximum tasks value '{value}' out of range, ignoring.", complete=True)
    return number


def _cpu_weight(value: str, ctx: ParseContext) -> int:
    if value == "idle":
        return 0
    return plain(lambda v: parse_int(v, 1, 10000), "Invalid CPU weight")(value, ctx)


def _kill_mode(value: str, ctx: ParseContext) -> KillMode:
    mode: KillMode = enum_of(KillMode, "kill mode specification")(value, ctx)
    if mode is KillMode.NONE:
        ctx.warn(
            "Unit configured to use KillMode=none. This is unsafe, as it disables systemd's process "
            "lifecycle management for the service. Please update your service to use a safer KillMode=, "
            "such as 'mixed' or 'control-group'. Support for KillMode=none is deprecated and will "
            "eventually be removed."
        )
    return mode


EXEC_HANDLERS: dict[str, Handler] = {
    "WorkingDirectory": _working_directory,
    "RootDirectory": path_setting(_exec, "root_directory", fatal=True),
    "User": setter(_exec, "user", _user, reset=True),
    "Group": setter(_exec, "group", _user_or_group, reset=True),
    "SupplementaryGroups": _supplementary_groups,
    "UMask": setter(_exec, "umask", _mode),
    "Environment": _environment,
    "EnvironmentFile": _environment_file,
    "PassEnvironment": _variable_names("pass_environment", allow_assignment=False),
    "UnsetEnvironment": _variable_names("unset_environment", allow_assignment=True),
    "StandardInput": _std_input,
    "StandardOutput": _std_output("standard_output"),
    "StandardError": _std_output("standard_error"),
    "StandardInputText": _stdin_text,
    "StandardInputData": _stdin_data,
    "TTYPath": path_setting(_exec, "tty_path"),
    "SyslogIdentifier": setter(_exec, "syslog_identifier", string, reset=True),
    "Nice": setter(_exec, "nice", _nice, reset=True),
    "OOMScoreAdjust": setter(_exec, "oom_score_adjust", _oom_score_adjust, reset=True),
    "IOSchedulingClass": _io_class,
    "IOSchedulingPriority": setter(_exec, "io_scheduling_priority", _io_priority, reset=True),
    "CPUAffinity": _cpu_affinity,
    "Personality": setter(_exec, "personality", _personality, reset=True),
    "IgnoreSIGPIPE": setter(_exec, "ignore_sigpipe", _bool),
    **{f"Limit{r}": _limit(r) for r in RLIMIT_NAMES},
    **{
        f"{kind}Directory": _directories(f"{attr}_directory")
        for kind, attr in (("Runtime", "runtime"), ("State", "state"), ("Cache", "cache"),
                           ("Logs", "logs"), ("Configuration", "configuration"))
    },
    **{
        f"{kind}DirectoryMode": setter(_exec, f"{attr}_directory_mode", _mode)
        for kind, attr in (("Runtime", "runtime"), ("State", "state"), ("Cache", "cache"),
                           ("Logs", "logs"), ("Configuration", "configuration"))
    },
    "RuntimeDirectoryPreserve": setter(_exec, "runtime_directory_preserve", _preserve),
    **SANDBOX_HANDLERS,
    **LOG_HANDLERS,
}

KILL_HANDLERS: dict[str, Handler] = {
    "KillMode": setter(_kill, "kill_mode", _kill_mode, reset=True),
    "KillSignal": setter(_kill, "kill_signal", _signal),
    "RestartKillSignal": setter(_kill, "restart_kill_signal", _signal),
    "FinalKillSignal": setter(_kill, "final_kill_signal", _signal),
    "WatchdogSignal": setter(_kill, "watchdog_signal", _signal),
    "SendSIGKILL": setter(_kill, "send_sigkill", _bool),
    "SendSIGHUP": setter(_kill, "send_sighup", _bool),
}

CGROUP_HANDLERS: dict[str, Handler] = {
    "Slice": setter(_cgroup, "slice", _slice),
    "Delegate": _delegate,
    "TasksMax": setter(_cgroup, "tasks_max", _tasks_max, reset=True),
    "CPUWeight": setter(_cgroup, "cpu_weight", _cpu_weight, reset=True),
    **RESOURCE_HANDLERS,
    **ACCESS_HANDLERS,
    **MANAGED_OOM_HANDLERS,
}
