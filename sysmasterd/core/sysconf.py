"""The manager's settings files, systemd's own: system.conf (user.conf for --user) and their
`.conf.d/` drop-ins, [Manager] section, in the unit-file syntax, as systemd 252 reads them.

An admin's tuning (DefaultTimeoutStopSec=, DefaultEnvironment=, ...) carries over unchanged.
Keys sysmaster uses become ManagerSettings fields; the other keys systemd knows are reported as
not supported; unknown keys and bad values are reported with file:line and skipped, as systemd
does. parse_files() is pure; config_files() and load() are the I/O at the edges.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from typing import Any

from compat.dropins import conf_files
from compat.execline import parse_environment
from compat.model import Diagnostic, OOMPolicy, ResourceLimit, Scope, StdOutput
from compat.syntax import decode, parse
from compat.values import RLIMIT_NAMES, parse_rlimit, parse_timespan, parse_unsigned
from sysmasterd.core.log import LOG_LEVELS


def _log_level(value: str) -> str:
    if value.isdigit() and int(value) < len(LOG_LEVELS):
        return LOG_LEVELS[int(value)]
    if value not in LOG_LEVELS:
        raise ValueError(value)
    return value


def _limit(resource_name: str, value: str) -> dict[str, ResourceLimit]:
    return {resource_name: parse_rlimit(resource_name, value)}


def _environment(value: str) -> dict[str, str]:
    assignments, problems = parse_environment(value, lambda word: word)
    if problems:
        raise ValueError(problems[0])
    return dict(assignments)


# key -> (ManagerSettings field, parser, what a bad value is called in the warning)
_SUPPORTED: dict[str, tuple[str, Callable[[str], Any], str]] = {
    "DefaultTimeoutStartSec": ("default_timeout_start_usec", parse_timespan, "time span"),
    "DefaultTimeoutStopSec": ("default_timeout_stop_usec", parse_timespan, "time span"),
    "DefaultStartLimitIntervalSec": ("default_start_limit_interval_usec", parse_timespan, "time span"),
    "DefaultStartLimitInterval": ("default_start_limit_interval_usec", parse_timespan, "time span"),
    "DefaultStartLimitBurst": ("default_start_limit_burst", parse_unsigned, "unsigned integer"),
    "DefaultRestartSec": ("default_restart_usec", parse_timespan, "time span"),
    "DefaultTimeoutAbortSec": ("default_timeout_abort_usec", parse_timespan, "time span"),
    "DefaultStandardOutput": ("default_standard_output", StdOutput, "output specifier"),
    "DefaultStandardError": ("default_standard_error", StdOutput, "output specifier"),
    "DefaultEnvironment": ("default_environment", _environment, "environment"),
    "LogLevel": ("log_level", _log_level, "log level"),
    "DefaultOOMPolicy": ("default_oom_policy", OOMPolicy, "OOM policy"),
    **{f"DefaultLimit{r}": ("default_limits", functools.partial(_limit, r), "resource value") for r in RLIMIT_NAMES},
}

_KNOWN_UNSUPPORTED = frozenset((
    "LogTarget", "LogColor", "LogLocation", "LogTime", "DumpCore", "ShowStatus", "CrashChangeVT", "CrashChVT",
    "CrashShell", "CrashReboot", "CtrlAltDelBurstAction", "CPUAffinity", "NUMAPolicy", "NUMAMask",
    "RuntimeWatchdogSec", "RuntimeWatchdogPreSec", "RuntimeWatchdogPreGovernor", "RebootWatchdogSec",
    "ShutdownWatchdogSec", "KExecWatchdogSec", "WatchdogDevice", "CapabilityBoundingSet", "NoNewPrivileges",
    "SystemCallArchitectures", "TimerSlackNSec", "StatusUnitFormat", "DefaultTimerAccuracySec",
    "DefaultDeviceTimeoutSec", "DefaultCPUAccounting",
    "DefaultIOAccounting", "DefaultIPAccounting", "DefaultBlockIOAccounting", "DefaultMemoryAccounting",
    "DefaultTasksAccounting", "DefaultTasksMax", "DefaultOOMScoreAdjust",
    "DefaultSmackProcessLabel", "ManagerEnvironment",
))  # fmt: skip

# Where drop-ins live, highest priority first (systemd's CONF_PATHS).
_DROPIN_BASES = ("/etc/systemd", "/run/systemd", "/usr/local/lib/systemd", "/usr/lib/systemd")


def config_files(scope: Scope, environ: Mapping[str, str], root: str = "/") -> list[str]:
    """The files systemd 252 reads, in order: the main file(s), then the drop-ins by name."""
    def under(path: str) -> str:
        return os.path.join(root, path.lstrip("/"))

    name = "system.conf" if scope is Scope.SYSTEM else "user.conf"
    mains = [under(f"/etc/systemd/{name}")]
    bases = [under(b) for b in _DROPIN_BASES]
    if scope is Scope.USER:
        config_home = environ.get("XDG_CONFIG_HOME") or os.path.join(environ.get("HOME", "/"), ".config")
        mains.append(os.path.join(config_home, "systemd", name))
        bases.insert(0, os.path.join(config_home, "systemd"))
    dropins = conf_files([os.path.join(b, name + ".d") for b in bases])
    return [p for p in mains if os.path.isfile(p)] + dropins


def _apply(key: str, value: str, fields: dict[str, Any]) -> str | None:
    """One assignment into `fields`; the warning when it is not taken."""
    if key in _KNOWN_UNSUPPORTED:
        return f"{key}= is not supported by sysmaster yet, ignoring." if value else None
    if key not in _SUPPORTED:
        return f"Unknown key '{key}' in section [Manager], ignoring."
    field, parser, what = _SUPPORTED[key]
    if not value and key == "DefaultEnvironment":
        fields.pop(field, None)
        return None
    if not value and key.startswith("DefaultLimit"):
        fields.get(field, {}).pop(key.removeprefix("DefaultLimit"), None)
        return None
    try:
        parsed = parser(value)
    except ValueError:
        return f"Failed to parse {what} '{value}' for {key}=, ignoring."
    # DefaultEnvironment= and DefaultLimit*= fill one table each, assignment by assignment.
    fields[field] = {**fields.get(field, {}), **parsed} if isinstance(parsed, dict) else parsed
    return None


def parse_files(files: list[tuple[str, str]]) -> tuple[dict[str, Any], list[Diagnostic]]:
    """(path, text) in reading order -> (ManagerSettings fields to set, diagnostics). A later
    file wins; DefaultEnvironment= adds up, and an empty one resets it."""
    fields: dict[str, Any] = {}
    diagnostics: list[Diagnostic] = []
    for path, text in files:
        parsed = parse(text, path, {"Manager"})
        found = list(parsed.diagnostics)
        for a in parsed.assignments:
            warning = _apply(a.key, a.value, fields)
            if warning is not None:
                found.append(Diagnostic(path, a.line, warning))
        diagnostics += sorted(found, key=lambda d: d.line)  # in file order, as systemd reads
    return fields, diagnostics


def load(scope: Scope, environ: Mapping[str, str], root: str = "/") -> tuple[dict[str, Any], list[Diagnostic]]:
    files: list[tuple[str, str]] = []
    diagnostics: list[Diagnostic] = []
    for path in config_files(scope, environ, root):
        try:
            with open(path, "rb") as f:
                files.append((path, decode(f.read())))
        except FileNotFoundError:
            continue  # a dangling drop-in link: skipped, as for unit drop-ins
        except OSError as e:
            diagnostics.append(Diagnostic(path, 0, f"Failed to read configuration file: {e.strerror}"))
    fields, more = parse_files(files)
    return fields, diagnostics + more
