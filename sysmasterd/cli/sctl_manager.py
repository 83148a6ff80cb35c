"""sctl verbs that talk to the manager itself: reload/reexec/power, environment-free state queries,
and the unit-file operations (enable, disable, mask, set-default, is-enabled, list-unit-files)."""

from __future__ import annotations

import os
import sys

from sysmasterd.cli.sctl_bus import MANAGER, MANAGER_PATH, UNIT, CallError, Client
from sysmasterd.cli.sctl_common import EXIT_FAILURE, Options, err, exit_for, mangle

TYPE_CHECKING = False  # typing costs more to import than sctl may spend
if TYPE_CHECKING:
    from typing import Any

    from compat.install import Installer

# verb -> (method, what failed): calls that take no arguments and answer nothing worth printing.
_CALLS = {
    "daemon-reload": ("Reload", "Failed to reload daemon"),
    "daemon-reexec": ("Reexecute", "Failed to reexecute daemon"),
    # There is no logind or poweroff.target on a sysmaster host: these ask the manager directly,
    # like `systemctl --force poweroff`.
    "poweroff": ("PowerOff", "Failed to power off system"),
    "reboot": ("Reboot", "Failed to reboot system"),
    "halt": ("Halt", "Failed to halt system"),
    "clear-jobs": ("ClearJobs", "Failed to execute operation"),
    # --force exit/kexec (sctl_special): straight to the manager, as systemctl does
    "exit": ("Exit", "Failed to execute operation"),
    "kexec": ("KExec", "Failed to execute operation"),
}
# Calls after which the daemon goes away (re-exec, or ends with the machine) and may not answer.
_DROPS_CONNECTION = ("Reexecute", "PowerOff", "Reboot", "Halt", "Exit", "KExec")


def call(client: Client, opts: Options, verb: str, args: list[str]) -> int:
    member, failure = _CALLS[verb]
    if opts.dry_run:
        return 0
    try:
        client.manager(member)
    except CallError as e:
        if member in _DROPS_CONNECTION and e.name in ("org.freedesktop.DBus.Error.NoReply", ""):
            return 0
        err(f"{failure}: {e.text}")
        return exit_for(e)
    except ConnectionError:
        if member not in _DROPS_CONNECTION:
            raise
    return 0


def cancel(client: Client, opts: Options, verb: str, args: list[str]) -> int:
    """Without arguments every job (ClearJobs), else each job by number."""
    if not args:
        try:
            client.manager("ClearJobs")
        except CallError as e:
            err(f"Failed to cancel all jobs: {e.text}")
            return exit_for(e)
        return 0
    rc = 0
    for arg in args:
        if not arg.isascii() or not arg.isdigit() or int(arg) >= 1 << 32:
            err(f'Failed to parse job id "{arg}": Invalid argument')
            return EXIT_FAILURE
        try:
            client.manager("CancelJob", "u", [int(arg)])
        except CallError as e:
            err(f"Failed to cancel job {int(arg)}: {e.text}")
            rc = rc or EXIT_FAILURE
    return rc


_LOG_CONTROL = ("/org/freedesktop/LogControl1", "org.freedesktop.LogControl1")
_LOG_LEVELS = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")


def log_setting(client: Client, opts: Options, verb: str, args: list[str]) -> int:
    """log-level/log-target: print the manager's, or set it (org.freedesktop.LogControl1)."""
    if len(args) > 1:
        err("Too many arguments.")
        return EXIT_FAILURE
    return _log_control(client, "org.freedesktop.systemd1", verb, args[0] if args else None)


# Answers that mean the service has no LogControl1 object (sd-bus turns them into EBADR)
_NO_LOG_CONTROL = ("org.freedesktop.DBus.Error.UnknownObject", "org.freedesktop.DBus.Error.UnknownInterface",
                   "org.freedesktop.DBus.Error.UnknownMethod")


def service_log_setting(client: Client, opts: Options, verb: str, args: list[str]) -> int:
    """service-log-level/-target: the same, of a service that implements LogControl1 on the bus
    under its BusName=."""
    if not 1 <= len(args) <= 2:
        err("Too few arguments." if not args else "Too many arguments.")
        return EXIT_FAILURE
    unit = mangle(args[0], opts.quiet)
    try:
        bus_name = client.get(client.unit_path(unit), "org.freedesktop.systemd1.Service", "BusName")
    except CallError as e:
        err(f"Failed to obtain BusName= property of {unit}: {e.text}")
        return EXIT_FAILURE
    if not bus_name:
        err(f"Unit {unit} doesn't declare BusName=.")
        _log_control_hint(opts)
        return EXIT_FAILURE
    bus = client if client.via_bus else Client.on_bus(opts.user)
    rc = _log_control(bus, bus_name, verb, args[1] if len(args) > 1 else None)
    if rc == -1:
        _log_control_hint(opts)
    return EXIT_FAILURE if rc else 0


def _log_control_hint(opts: Options) -> None:
    if not opts.quiet:
        err("Hint: the service must declare BusName= and implement the appropriate D-Bus interface.\n"
            "      See the org.freedesktop.LogControl1(5) man page for details.")


def _log_control(client: Client, destination: str, verb: str, value: str | None) -> int:
    """0; EXIT_FAILURE; -1 when the destination has no LogControl1 to ask."""
    level = verb.endswith("log-level")
    what, prop = ("level", "LogLevel") if level else ("target", "LogTarget")
    if value is not None and level and value not in _LOG_LEVELS and not (
            value.isdigit() and int(value) < len(_LOG_LEVELS)):
        err(f'"{value}" is not a valid log level.')
        return EXIT_FAILURE
    try:
        if value is None:
            print(client.get(*_LOG_CONTROL, prop, destination))
        else:
            client.set(*_LOG_CONTROL, prop, "s", value, destination)
    except CallError as e:
        err(f"Failed to get log {what} of {destination}: {e.text}" if value is None else
            f"Failed to set log {what} of {destination} to {value}: {e.text}")
        return -1 if e.name in _NO_LOG_CONTROL else EXIT_FAILURE
    return 0


def service_watchdogs(client: Client, opts: Options, verb: str, args: list[str]) -> int:
    from compat.values import parse_boolean

    if len(args) > 1:
        err("Too many arguments.")
        return EXIT_FAILURE
    try:
        if not args:
            print("yes" if client.get(MANAGER_PATH, MANAGER, "ServiceWatchdogs") else "no")
            return 0
        try:
            on = parse_boolean(args[0])
        except ValueError:
            err("Failed to parse service-watchdogs argument: Invalid argument")
            return EXIT_FAILURE
        client.set(MANAGER_PATH, MANAGER, "ServiceWatchdogs", "b", on)
    except CallError as e:
        err(f"Failed to {'get' if not args else 'set'} service-watchdog state: {e.text}")
        return EXIT_FAILURE
    return 0


def system_running(client: Client, opts: Options, verb: str, args: list[str]) -> int:
    state = client.get(MANAGER_PATH, MANAGER, "SystemState")
    if not opts.quiet:
        print(state)
    return 0 if state == "running" else EXIT_FAILURE


def get_default(client: Client, opts: Options, verb: str, args: list[str]) -> int:
    try:
        print(client.manager("GetDefaultTarget"))
    except CallError as e:
        err(f"Failed to get default target: {e.text}")
        return exit_for(e)
    return 0


ENABLED_STATES = ("enabled", "enabled-runtime", "static", "alias", "indirect", "generated")
NO_INSTALL_INFO = """\
The unit files have no installation config (WantedBy=, RequiredBy=, Also=,
Alias= settings in the [Install] section, and DefaultInstance= for template
units). This means they are not meant to be enabled using systemctl.
\x20
Possible reasons for having this kind of units are:
\u2022 A unit may be statically enabled by being symlinked from another unit's
  .wants/ or .requires/ directory.
\u2022 A unit's purpose may be to act as a helper for some other unit which has
  a requirement dependency on it.
\u2022 A unit may be started when needed via activation (socket, path, timer,
  D-Bus, udev, scripted systemctl call, ...).
\u2022 In case of template units, the unit is meant to be enabled with some
  instance name specified."""


def _print_changes(changes: list[list[str]]) -> None:
    for kind, path, source in changes:
        if kind == "symlink":
            print(f"Created symlink {path} \u2192 {source}.", file=sys.stderr)
        elif kind == "unlink":
            print(f'Removed "{path}".', file=sys.stderr)


# verb -> (method, its signature, whether the reply leads with carries_install_info)
_FILE_CALLS = {
    "set-default": ("SetDefaultTarget", "sb", False),
    "enable": ("EnableUnitFiles", "asbb", True),
    "reenable": ("ReenableUnitFiles", "asbb", True),
    "disable": ("DisableUnitFiles", "asb", False),
    "mask": ("MaskUnitFiles", "asbb", False),
    "unmask": ("UnmaskUnitFiles", "asb", False),
    "link": ("LinkUnitFiles", "asbb", False),
    "revert": ("RevertUnitFiles", "as", False),
    "preset": ("PresetUnitFilesWithMode", "assbb", True),
    "preset-all": ("PresetAllUnitFiles", "sbb", False),
    "add-wants": ("AddDependencyUnitFiles", "asssbb", False),
    "add-requires": ("AddDependencyUnitFiles", "asssbb", False),
}
_FAILURES = {"set-default": "Failed to set default target", "preset-all": "Failed to preset all units",
             "add-wants": "Failed to add dependency", "add-requires": "Failed to add dependency"}


def file_call_args(verb: str, args: list[str], opts: Options) -> list[Any] | None:
    """The method's arguments for a unit-file verb's operands; None: too few of them."""
    if verb == "preset-all":
        return [opts.preset_mode, opts.runtime, bool(opts.force)]
    names = args if verb == "link" else [mangle(a, opts.quiet) for a in args]  # link takes paths
    if verb in ("add-wants", "add-requires"):
        if len(names) < 2:
            return None
        return [names[1:], names[0], "Wants" if verb == "add-wants" else "Requires", opts.runtime, bool(opts.force)]
    if not names:
        return None
    by_signature: dict[str, list[Any]] = {
        "asbb": [names, opts.runtime, bool(opts.force)], "asb": [names, opts.runtime], "as": [names],
        "sb": [names[0], True], "assbb": [names, opts.preset_mode, opts.runtime, bool(opts.force)]}
    return by_signature[_FILE_CALLS[verb][1]]


def unit_files(client: Client, opts: Options, verb: str, args: list[str]) -> int:
    """The unit-file verbs: change files, print what changed, reload like systemctl."""
    member, signature, carries = _FILE_CALLS[verb]
    body = file_call_args(verb, args, opts)
    if body is None:
        err("Too few arguments.")
        return EXIT_FAILURE
    if verb in ("mask", "unmask"):
        for name in body[0]:
            props = client.get_all(client.unit_path(name), UNIT)
            if props["LoadState"] == "not-found" and props["ActiveState"] == "inactive":
                err(f"Unit {name} does not exist, proceeding anyway.")
    try:
        reply = client.manager(member, signature, body)
        if not opts.quiet:
            _print_changes(reply[1] if carries else reply)
            if verb in ("enable", "reenable") and not reply[0]:
                err(NO_INSTALL_INFO)
        if not opts.no_reload:
            client.manager("Reload")
    except CallError as e:
        err(f"{_FAILURES.get(verb, f'Failed to {verb} unit')}: {e.text}")
        return exit_for(e) if e.name == "org.freedesktop.DBus.Error.AccessDenied" else EXIT_FAILURE
    if opts.now and verb in ("enable", "disable", "reenable", "preset"):
        from sysmasterd.cli.sctl_units import job_verb

        return job_verb(client, opts, "stop" if verb == "disable" else "restart" if verb == "reenable" else "start",
                        [mangle(a, opts.quiet) for a in args])
    return 0


def is_enabled(client: Client, opts: Options, verb: str, args: list[str]) -> int:
    enabled = False
    for name in (mangle(a, opts.quiet) for a in args):
        try:
            state = client.manager("GetUnitFileState", "s", [name])
        except CallError as e:
            err(f"Failed to get unit file state for {name}: {e.text}")
            return EXIT_FAILURE
        if not opts.quiet:
            print(state)
            if opts.full:  # the symlinks a disable would remove
                try:
                    links = client.manager("GetUnitFileLinks", "sb", [name, opts.runtime])
                except CallError as e:
                    err(f"Failed to get unit file links for {name}: {e.text}")
                    return EXIT_FAILURE
                for link in links:
                    print(f"  {link}")
        enabled = enabled or state in ENABLED_STATES
    return 0 if enabled else EXIT_FAILURE


def list_unit_files(client: Client, opts: Options, verb: str, args: list[str]) -> int:
    from compat.install import Installer
    from compat.model import Scope

    if opts.with_dependencies:
        from sysmasterd.cli.sctl_lists import with_dependencies

        args = with_dependencies(client, opts, args)
    rows = client.manager("ListUnitFilesByPatterns", "asas", [opts.states, args])
    # Like systemctl, the preset comes from this host's preset files, read client-side.
    return print_unit_files(opts, [(os.path.basename(path), state) for path, state in rows],
                            Installer(Scope.USER if opts.user else Scope.SYSTEM))


def print_unit_files(opts: Options, names: list[tuple[str, str]], presets: Installer) -> int:
    """list-unit-files' table of (name, state) rows, with each file's preset."""
    from sysmasterd.cli.sctl_status import NO_PRESET_STATES
    from sysmasterd.cli.sctl_table import (
        GREEN,
        GREEN_UNDERLINE,
        GREY,
        GREY_UNDERLINE,
        RED,
        RED_UNDERLINE,
        UNDERLINE,
        Cell,
        Table,
    )

    names = [(n, s) for n, s in names if not opts.types or n.rpartition(".")[2] in opts.types]
    names.sort(key=lambda r: (r[0].rpartition(".")[2].lower(), r[0].lower()))  # by type, then name
    table = Table("unit file", "state", "preset", header=opts.legend)
    for i, (name, state) in enumerate(names):
        underline = i + 1 < len(names) and name.rpartition(".")[2] != names[i + 1][0].rpartition(".")[2]
        plain = UNDERLINE if underline else ""
        if state in ("masked", "masked-runtime", "disabled", "bad"):
            on_state = RED_UNDERLINE if underline else RED
        elif state in ("enabled", "alias"):
            on_state = GREEN_UNDERLINE if underline else GREEN
        else:
            on_state = plain
        if state in NO_PRESET_STATES:
            preset = Cell(None, GREY_UNDERLINE if underline else GREY)
        else:
            enabled = presets.unit_file_preset(name) == "enabled"
            color = (GREEN_UNDERLINE if underline else GREEN) if enabled else (RED_UNDERLINE if underline else RED)
            preset = Cell("enabled" if enabled else "disabled", color)
        table.add(Cell(name, plain), Cell(state, on_state), preset)
    table.print(opts.output)
    if opts.legend:
        print(f"\n{len(names)} unit files listed.")
    return 0 if names else EXIT_FAILURE  # systemctl: -ENOENT when nothing matched
