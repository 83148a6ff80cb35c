"""`sctl`: systemctl's verbs, options, output and exit codes, for hosts without systemd's systemctl.

Installed as `sctl`; a symlink named `systemctl` behaves the same. Talks D-Bus to sysmasterd (the
private socket when allowed, else the bus), like systemctl does.

Start-up is part of the job: scripts call systemctl in loops. This module imports only what
parsing the command line needs; a verb's module (and the D-Bus client) is imported when that verb
runs. tests/cli/test_cli_imports.py holds every verb to a list of modules it must not import.
"""

from __future__ import annotations

import os
import sys

from sysmasterd import __version__
from sysmasterd.cli.gnu_getopt import REQUIRED, Opt, UsageError, parse
from sysmasterd.cli.sctl_common import BOOLEANS, EXIT_FAILURE, OUTPUT_MODES, Options, err
from sysmasterd.cli.sctl_states import LOAD_STATES, PRESET_MODES, UNIT_TYPES

TYPE_CHECKING = False  # mypy knows this name; typing itself costs more to import than sctl may spend
if TYPE_CHECKING:
    from collections.abc import Callable

# verb -> (module under sysmasterd.cli, function, synopsis, help). Every function takes
# (client, options, verb, operands) and returns the exit status. Headings start with "#".
VERBS: dict[str, tuple[str, str, str, str]] = {
    "#Unit Commands": ("", "", "", ""),
    "list-units": ("sctl_lists", "list_units", "[PATTERN...]", "List units currently in memory"),
    "list-automounts": ("sctl_lists", "list_automounts", "[PATTERN...]",
                        "List automount units currently in memory,\nordered by path"),
    "list-sockets": ("sctl_lists", "list_sockets", "[PATTERN...]",
                     "List socket units currently in memory, ordered by address"),
    "list-timers": ("sctl_lists", "list_timers", "[PATTERN...]",
                    "List timer units currently in memory, ordered by next elapse"),
    "is-active": ("sctl_units", "is_state", "PATTERN...", "Check whether units are active"),
    "is-failed": ("sctl_units", "is_state", "PATTERN...", "Check whether units are failed"),
    "check": ("sctl_units", "is_state", "PATTERN...", ""),
    "status": ("sctl_status", "status", "[PATTERN...]", "Show runtime status of one or more units"),
    "show": ("sctl_show", "show", "[PATTERN...]", "Show properties of one or more units or the manager"),
    "cat": ("sctl_units", "cat", "PATTERN...", "Show files and drop-ins of specified units"),
    "help": ("sctl_help", "unit_help", "PATTERN...|PID...", "Show manual for one or more units"),
    "list-dependencies": ("sctl_lists", "list_dependencies", "[UNIT...]",
                          "Recursively show units which are required or wanted by the units"),
    "start": ("sctl_units", "job_verb", "UNIT...", "Start (activate) one or more units"),
    "stop": ("sctl_units", "job_verb", "UNIT...", "Stop (deactivate) one or more units"),
    "reload": ("sctl_units", "job_verb", "UNIT...", "Reload one or more units"),
    "restart": ("sctl_units", "job_verb", "UNIT...", "Start or restart one or more units"),
    "try-restart": ("sctl_units", "job_verb", "UNIT...", "Restart one or more units if active"),
    "condrestart": ("sctl_units", "job_verb", "UNIT...", ""),
    "reload-or-restart": ("sctl_units", "job_verb", "UNIT...",
                          "Reload one or more units if possible, otherwise start or restart"),
    "try-reload-or-restart": ("sctl_units", "job_verb", "UNIT...",
                              "If active, reload one or more units, if supported, otherwise restart"),
    "force-reload": ("sctl_units", "job_verb", "UNIT...", ""),
    "isolate": ("sctl_units", "job_verb", "UNIT", "Start one unit and stop all others"),
    "condstop": ("sctl_units", "job_verb", "UNIT...", ""),
    "reload-or-try-restart": ("sctl_units", "job_verb", "UNIT...", ""),
    "condreload": ("sctl_units", "job_verb", "UNIT...", ""),
    "kill": ("sctl_units", "kill", "UNIT...", "Send signal to processes of a unit"),
    "clean": ("sctl_units", "clean_or_freeze", "UNIT...",
              "Clean runtime, cache, state, logs or\nconfiguration of unit"),
    "freeze": ("sctl_units", "clean_or_freeze", "PATTERN...", "Freeze execution of unit processes"),
    "thaw": ("sctl_units", "clean_or_freeze", "PATTERN...", "Resume execution of a frozen unit"),
    "set-property": ("sctl_setprop", "set_property", "UNIT PROPERTY=VALUE...",
                     "Sets one or more properties of a unit"),
    "bind": ("sctl_mount", "mount", "UNIT PATH [PATH]", "Bind-mount a path from the host into a\nunit's namespace"),
    "mount-image": ("sctl_mount", "mount", "UNIT PATH [PATH [OPTS]]",
                    "Mount an image from the host into a\nunit's namespace"),
    "service-log-level": ("sctl_manager", "service_log_setting", "SERVICE [LEVEL]",
                          "Get/set logging threshold for service"),
    "service-log-target": ("sctl_manager", "service_log_setting", "SERVICE [TARGET]",
                           "Get/set logging target for service"),
    "reset-failed": ("sctl_units", "reset_failed", "[PATTERN...]",
                     "Reset failed state for all, one, or more units"),
    "#Unit File Commands": ("", "", "", ""),
    "list-unit-files": ("sctl_manager", "list_unit_files", "[PATTERN...]", "List installed unit files"),
    "enable": ("sctl_manager", "unit_files", "[UNIT...|PATH...]", "Enable one or more unit files"),
    "disable": ("sctl_manager", "unit_files", "UNIT...", "Disable one or more unit files"),
    "reenable": ("sctl_manager", "unit_files", "UNIT...", "Reenable one or more unit files"),
    "preset": ("sctl_manager", "unit_files", "UNIT...",
               "Enable/disable one or more unit files\nbased on preset configuration"),
    "preset-all": ("sctl_manager", "unit_files", "",
                   "Enable/disable all unit files based on\npreset configuration"),
    "is-enabled": ("sctl_manager", "is_enabled", "UNIT...", "Check whether unit files are enabled"),
    "mask": ("sctl_manager", "unit_files", "UNIT...", "Mask one or more units"),
    "unmask": ("sctl_manager", "unit_files", "UNIT...", "Unmask one or more units"),
    "link": ("sctl_manager", "unit_files", "PATH...", "Link one or more units files into\nthe search path"),
    "revert": ("sctl_manager", "unit_files", "UNIT...", "Revert one or more unit files to vendor\nversion"),
    "add-wants": ("sctl_manager", "unit_files", "TARGET UNIT...",
                  "Add 'Wants' dependency for the target\non specified one or more units"),
    "add-requires": ("sctl_manager", "unit_files", "TARGET UNIT...",
                     "Add 'Requires' dependency for the target\non specified one or more units"),
    "edit": ("sctl_edit", "edit", "UNIT...", "Edit one or more unit files"),
    "get-default": ("sctl_manager", "get_default", "", "Get the name of the default target"),
    "set-default": ("sctl_manager", "unit_files", "TARGET", "Set the default target"),
    "#Machine Commands": ("", "", "", ""),
    "list-machines": ("sctl_lists", "list_machines", "[PATTERN...]", "List local containers and host"),
    "#Job Commands": ("", "", "", ""),
    "list-jobs": ("sctl_units", "list_jobs", "[PATTERN...]", "List jobs"),
    "cancel": ("sctl_manager", "cancel", "[JOB...]", "Cancel all, one, or more jobs"),
    "clear-jobs": ("sctl_manager", "call", "", ""),
    "#Environment Commands": ("", "", "", ""),
    "show-environment": ("sctl_units", "environment", "", "Dump environment"),
    "set-environment": ("sctl_units", "environment", "VARIABLE=VALUE...",
                        "Set one or more environment variables"),
    "unset-environment": ("sctl_units", "environment", "VARIABLE...", "Unset one or more environment variables"),
    "import-environment": ("sctl_units", "environment", "VARIABLE...",
                           "Import all or some environment variables"),
    "#Manager State Commands": ("", "", "", ""),
    "daemon-reload": ("sctl_manager", "call", "", "Reload the manager's configuration"),
    "daemon-reexec": ("sctl_manager", "call", "", "Reexecute the manager"),
    "log-level": ("sctl_manager", "log_setting", "[LEVEL]", "Get/set logging threshold for manager"),
    "log-target": ("sctl_manager", "log_setting", "[TARGET]", "Get/set logging target for manager"),
    "service-watchdogs": ("sctl_manager", "service_watchdogs", "[BOOL]", "Get/set service watchdog state"),
    "#System Commands": ("", "", "", ""),
    "is-system-running": ("sctl_manager", "system_running", "", "Check whether system is fully running"),
    "default": ("sctl_special", "start_special", "", "Enter system default mode"),
    "rescue": ("sctl_special", "start_special", "", "Enter system rescue mode"),
    "emergency": ("sctl_special", "start_special", "", "Enter system emergency mode"),
    "halt": ("sctl_special", "start_special", "", "Shut down and halt the system"),
    "poweroff": ("sctl_special", "start_special", "", "Shut down and power-off the system"),
    "reboot": ("sctl_special", "start_special", "", "Shut down and reboot the system"),
    "kexec": ("sctl_special", "start_special", "", "Shut down and reboot the system with kexec"),
    "exit": ("sctl_special", "start_special", "[EXIT_CODE]", "Request user instance or container exit"),
    "switch-root": ("sctl_mount", "switch_root", "ROOT [INIT]", "Change to a different root file system"),
    "suspend": ("sctl_special", "start_special", "", "Suspend the system"),
    "hibernate": ("sctl_special", "start_special", "", "Hibernate the system"),
    "hybrid-sleep": ("sctl_special", "start_special", "", "Hibernate and suspend the system"),
    "suspend-then-hibernate": ("sctl_special", "start_special", "",
                               "Suspend the system, wake after a period of\ntime, and hibernate"),
    "#Analysis Commands (systemd-analyze's)": ("", "", "", ""),
    "blame": ("sctl_analyze", "blame", "", "List units by the time they took to start"),
    "critical-chain": ("sctl_analyze", "critical_chain", "[UNIT]", "Show the chain of units that delayed UNIT"),
    "plot": ("sctl_analyze", "plot", "", "Print an SVG graphic of unit activation"),
}

# the verbs that only change or read unit files: what --global (and --root) does without a manager
_UNIT_FILE_VERBS = frozenset(name for name, (_m, function, _s, _t) in VERBS.items()
                             if function in ("unit_files", "is_enabled", "get_default", "list_unit_files"))

# the verbs whose output systemctl pages on a terminal
_PAGED_VERBS = frozenset(("list-units", "list-unit-files", "list-dependencies", "list-jobs", "list-machines",
                          "list-sockets", "list-timers", "list-automounts", "show-environment", "show", "status",
                          "cat"))

# systemctl's argument counts (the verb's own words after it): (at least, at most; -1 any).
_ARG_COUNTS: dict[str, tuple[int, int]] = {
    **dict.fromkeys(("clear-jobs", "daemon-reload", "daemon-reexec", "show-environment", "halt", "poweroff", "kexec",
                     "suspend", "hibernate", "hybrid-sleep", "suspend-then-hibernate", "default", "rescue",
                     "emergency", "preset-all", "get-default", "is-system-running"), (0, 0)),
    **dict.fromkeys(("log-level", "log-target", "service-watchdogs", "reboot", "exit"), (0, 1)),
    **dict.fromkeys(("start", "stop", "condstop", "reload", "restart", "try-restart", "reload-or-try-restart",
                     "try-reload-or-restart", "force-reload", "condreload", "condrestart", "kill", "clean", "freeze",
                     "thaw", "is-active", "check", "is-failed", "cat", "set-environment", "unset-environment",
                     "enable", "disable", "is-enabled", "reenable", "preset", "mask", "unmask", "link", "revert",
                     "switch-root", "edit"), (1, -1)),
    **dict.fromkeys(("isolate", "set-default"), (1, 1)),
    **dict.fromkeys(("service-log-level", "service-log-target"), (1, 2)),
    **dict.fromkeys(("set-property", "add-wants", "add-requires"), (2, -1)),
    "bind": (2, 3),
    "mount-image": (3, 4),
}

# (key, short, long, takes an argument, help); key "" means accepted and ignored.
_OPTIONS: list[tuple[str, str, str, bool, str]] = [
    ("help", "h", "help", False, "Show this help"),
    ("version", "", "version", False, "Show package version"),
    ("system", "", "system", False, "Connect to system manager"),
    ("user", "", "user", False, "Connect to user service manager"),
    ("global", "", "global", False, "Enable/disable/mask unit files globally"),
    ("host", "H", "host", True, "Operate on remote host"),
    ("machine", "M", "machine", True, "Operate on a local container"),
    ("type", "t", "type", True, "List units of a particular type"),
    ("state", "", "state", True, "List units with particular LOAD or SUB or ACTIVE state"),
    ("failed", "", "failed", False, "Shortcut for --state=failed"),
    ("property", "p", "property", True, "Show only properties by this name"),
    ("P", "P", "", True, "Equivalent to --value --property=NAME"),
    ("all", "a", "all", False, "Show all properties/all units currently in memory"),
    ("full", "l", "full", False, "Don't ellipsize unit names on output"),
    ("recursive", "r", "recursive", False, "Show unit list of host and local containers"),
    ("reverse", "", "reverse", False, "Show reverse dependencies with 'list-dependencies'"),
    ("with_dependencies", "", "with-dependencies", False, "Show unit dependencies with 'status', 'cat', "
     "'list-units', and 'list-unit-files'"),
    ("job_mode", "", "job-mode", True, "Specify how to deal with already queued jobs, when queueing a new job"),
    ("show_transaction", "T", "show-transaction", False, "When enqueuing a unit job, show full transaction"),
    ("-fail", "", "fail", False, ""),
    ("-irreversible", "", "irreversible", False, ""),
    ("-ignore-dependencies", "", "ignore-dependencies", False, ""),
    ("show_types", "", "show-types", False, "When showing sockets, explicitly show their type"),
    ("value", "", "value", False, "When showing properties, only print the value"),
    ("check_inhibitors", "", "check-inhibitors", True, "Specify if checking inhibitors before shutting down, "
     "sleeping or hibernating"),
    ("kill_whom", "", "kill-whom", True, "Whom to send signal to"),
    ("kill_whom", "", "kill-who", True, ""),
    ("signal", "s", "signal", True, "Which signal to send"),
    ("now", "", "now", False, "Start or stop unit after enabling or disabling it"),
    ("dry_run", "", "dry-run", False, "Only print what would be done"),
    ("wait", "", "wait", False, "For (re)start, wait until service stopped again"),
    ("quiet", "q", "quiet", False, "Suppress output"),
    ("no_block", "", "no-block", False, "Do not wait until operation finished"),
    ("", "", "no-wall", False, "Don't send wall message before halt/power-off/reboot"),
    ("no_reload", "", "no-reload", False, "Don't reload daemon after en-/dis-abling unit files"),
    ("legend", "", "legend", True, "Enable/disable the legend (column headers and hints)"),
    ("no_legend", "", "no-legend", False, ""),
    ("no_pager", "", "no-pager", False, "Do not pipe output into a pager"),
    ("", "", "no-ask-password", False, "Do not ask for system passwords"),
    ("", "i", "", False, ""),
    ("runtime", "", "runtime", False, "Enable/disable/mask unit files temporarily until next reboot"),
    ("force", "f", "force", False, "When enabling unit files, override existing symlinks"),
    ("preset_mode", "", "preset-mode", True, "Apply only enable, only disable, or all presets"),
    ("root", "", "root", True, "Edit unit files in the specified root directory"),
    ("lines", "n", "lines", True, "Number of journal entries to show"),
    ("output", "o", "output", True, "Change journal output mode (short, short-precise, short-iso, "
     "short-iso-precise, short-full, short-monotonic, short-unix, verbose, export, json, json-pretty, "
     "json-sse, cat)"),
    ("firmware_setup", "", "firmware-setup", False, "Tell the firmware to show the setup menu on next boot"),
    ("boot_loader_menu", "", "boot-loader-menu", True, "Boot into boot loader menu on next boot"),
    ("boot_loader_entry", "", "boot-loader-entry", True, "Boot into a specific boot loader entry on next boot"),
    ("reboot_argument", "", "reboot-argument", True, ""),
    ("", "", "message", True, ""),
    ("timestamp", "", "timestamp", True, "Change format of printed timestamps (pretty, unix, us, utc, us+utc)"),
    ("marked", "", "marked", False, "Restart/reload previously marked units"),
    ("plain", "", "plain", False, "Print unit dependencies as a list instead of a tree"),
    ("what", "", "what", True, "Which types of resources to remove"),
    ("read_only", "", "read-only", False, "Create read-only bind mount"),
    ("mkdir", "", "mkdir", False, "Create directory before mounting, if missing"),
    ("after", "", "after", False, "Show units ordered after with 'list-dependencies'"),
    ("before", "", "before", False, "Show units ordered before with 'list-dependencies'"),
]
_SPECS = [Opt(key or f"-{long or short}", short, long, REQUIRED if arg else 0) for key, short, long, arg, _ in _OPTIONS]
_JOB_MODES = {"-fail": "fail", "-irreversible": "replace-irreversibly", "-ignore-dependencies": "ignore-dependencies"}
_FLAGS = frozenset(("all", "value", "now", "quiet", "no_block", "plain", "show_types", "full", "wait", "runtime",
                    "no_reload", "with_dependencies", "no_pager", "read_only", "mkdir", "show_transaction",
                    "dry_run", "firmware_setup", "marked"))
_HELP_LIST = "help"  # the value that makes --type=, --state= and --preset-mode= list their choices


def _help(prog: str) -> None:
    out = [f"{prog} [OPTIONS...] COMMAND ...", "", "Query or send control commands to sysmasterd."]
    for name, (_module, _function, synopsis, text) in VERBS.items():
        if name.startswith("#"):
            out += ["", name[1:] + ":"]
        elif text:  # the legacy aliases have none: systemctl leaves them out
            # systemctl breaks long texts at fixed places, continued under the text column
            out.append(f"  {name + ' ' + synopsis:<35} {text}".replace("\n", "\n" + " " * 38))
    out += ["", "Options:"]
    for _key, short, long, arg, text in _OPTIONS:
        if text:
            names = f"-{short} " if short else "   "
            names += (f"--{long}" if long else "") + ("=ARG" if arg and long else "")
            out.append(f"  {names:<22} {text}")
    out += ["", "Unit names without a type mean a service; options may be given anywhere."]
    print("\n".join(out))


def _split(value: str) -> list[str]:
    return [v for v in value.split(",") if v]


def _options(pairs: list[tuple[str, str | None]], operands: list[str]) -> Options | list[str]:
    """The Options, or the error lines for a bad option value (or combination with the verb)."""
    verb = operands[0] if operands else ""
    opts = Options()
    legend: bool | None = None
    for key, value in pairs:
        v = value or ""
        if key in _FLAGS:
            setattr(opts, key, True)
        elif key in ("user", "system"):
            opts.user, opts.global_scope = key == "user", False
        elif key == "type":
            if not v:
                return ["--type= requires arguments."]
            for t in _split(v):
                if t == _HELP_LIST:
                    opts.help_list = "type"
                elif t in UNIT_TYPES:
                    opts.types.append(t)
                elif t in LOAD_STATES:
                    opts.states.append(t)
                else:
                    return [f"Unknown unit type or load state '{t}'.", "Use -t help to see a list of allowed values."]
        elif key == "state":
            if not v:
                return ["--state= requires arguments."]
            opts.states += _split(v)
            if _HELP_LIST in opts.states:
                opts.help_list = "state"
        elif key == "failed":
            opts.states.append("failed")
        elif key in ("property", "P"):
            opts.properties += _split(v)
            opts.value = opts.value or key == "P"
        elif key == "legend" and v.lower() not in BOOLEANS:
            return [f"Failed to parse boolean argument to --legend: {v}."]
        elif key in ("legend", "no_legend"):
            legend = key == "legend" and BOOLEANS[v.lower()]
        elif key == "lines":
            if not v.isdigit():
                return [f"Failed to parse lines '{v}'"]
            opts.lines = int(v)
        elif key == "output":
            if v not in OUTPUT_MODES:
                return [f"Unknown output '{v}'."]
            opts.output = v
            if v.startswith("json"):
                legend, opts.plain = False, True
        elif key in ("reverse", "after", "before"):
            opts.dependency = key
            setattr(opts, key, key != "reverse")
        elif key == "job_mode":
            opts.job_mode = v
        elif key in _JOB_MODES:
            opts.job_mode = _JOB_MODES[key]
        elif key == "force":
            opts.force += 1
        elif key == "recursive":
            if os.geteuid() != 0:
                return ["--recursive requires root privileges."]
            opts.recursive = True
        elif key == "root":
            opts.root = os.path.abspath(v)
        elif key == "what":
            if not v:
                return ["--what= requires arguments."]
            # checked by the manager, as systemctl leaves it; "help" lists them instead
            opts.clean_what += _split(v)
        elif key in ("signal", "kill_whom"):
            setattr(opts, key, v)
        elif key == "check_inhibitors" and v != "auto" and v.lower() not in BOOLEANS:
            return [f"Failed to parse --check-inhibitors= argument: {v}"]
        elif key == "preset_mode":
            if v not in (*PRESET_MODES, _HELP_LIST):
                return [f"Failed to parse preset mode: {v}."]
            opts.preset_mode = v
        elif key == "global":
            opts.user, opts.global_scope = False, True
        elif key in ("host", "machine"):
            opts.transport = (key, v)
        elif key == "boot_loader_menu":
            from compat.values import parse_timespan

            try:
                opts.boot_loader_menu = parse_timespan(v)
            except ValueError:
                return [f"Failed to parse --boot-loader-menu= argument '{v}': Invalid argument"]
        elif key in ("boot_loader_entry", "reboot_argument"):
            setattr(opts, key, v)
        elif key == "timestamp":
            from sysmasterd.cli import sctl_format

            if v == _HELP_LIST:
                opts.help_list = "timestamp"
            elif v not in sctl_format.TIMESTAMP_STYLES:
                return [f"Invalid value: {v}."]
            else:
                sctl_format.timestamp_style = v
        if key == "quiet" and legend is None:
            legend = False
    opts.legend = legend is not False
    if opts.transport[0] == "host" and opts.user:
        return ["Cannot access user instance remotely."]
    if opts.wait and opts.no_block:
        return ["--wait may not be combined with --no-block."]
    reload_or_restart = verb == "reload-or-restart"
    if opts.marked:
        if not reload_or_restart:
            return ["--marked may only be used with 'reload-or-restart'."]
        if operands[1:]:
            return ["No additional arguments allowed with 'reload-or-restart --marked'."]
        if opts.wait:
            return ["--marked --wait is not supported."]
        if opts.show_transaction:
            return ["--marked --show-transaction is not supported."]
    elif reload_or_restart and not operands[1:]:
        return ["List of units to restart/reload is required."]
    return opts


def main(argv: list[str] | None = None) -> int:
    # glibc names the program as it was invoked; `python -m` leaves the module's file there.
    prog = sys.argv[0] if sys.argv and sys.argv[0] and not sys.argv[0].endswith(".py") else "sctl"
    try:
        pairs, operands = parse(prog, sys.argv[1:] if argv is None else argv, _SPECS)
    except UsageError as e:
        err(str(e))  # systemctl prints getopt's message alone and exits 1; scripts test for it
        return EXIT_FAILURE
    keys = {key for key, _ in pairs}
    if "help" in keys:
        from sysmasterd.cli import sctl_pager

        sctl_pager.start("no_pager" not in keys)
        _help(prog)
        sctl_pager.end()
        return 0
    if "version" in keys:
        # systemctl's first line is "systemd <N> (...)"; scripts read the number from field 2.
        print(f"systemd 252 (sysmaster-py {__version__})")
        return 0
    opts = _options(pairs, operands)
    if isinstance(opts, list):
        err("\n".join(opts))
        return EXIT_FAILURE
    if opts.help_list or opts.preset_mode == _HELP_LIST:
        from sysmasterd.cli.sctl_states import print_help_list

        print_help_list(opts.help_list or "preset-mode")
        return 0
    if "help" in opts.clean_what:
        print("runtime\nstate\ncache\nlogs\nconfiguration")
        return 0
    verb = operands.pop(0) if operands else "list-units"
    entry = VERBS.get(verb) if not verb.startswith("#") else None
    if entry is None:
        err(f"Unknown command verb {verb}.")
        return EXIT_FAILURE
    least, most = _ARG_COUNTS.get(verb, (0, -1))
    if len(operands) < least or 0 <= most < len(operands):
        err("Too few arguments." if len(operands) < least else "Too many arguments.")
        return EXIT_FAILURE
    return _run(entry[0], entry[1], opts, verb, operands)


def _run(module: str, function: str, opts: Options, verb: str, args: list[str]) -> int:
    import importlib

    from sysmasterd.cli.sctl_bus import CallError, Client
    from sysmasterd.cli.sctl_common import exit_for

    run: Callable[[Client, Options, str, list[str]], int] = getattr(
        importlib.import_module(f"sysmasterd.cli.{module}"), function)
    # --global changes unit files without a manager; its other verbs talk to the user's manager
    offline = opts.root or (opts.global_scope and verb in _UNIT_FILE_VERBS)
    if offline:
        from sysmasterd.cli import sctl_offline

        rc = sctl_offline.run(opts, verb, args)
        if rc != 0 or not (opts.now and verb in ("enable", "disable")):
            return rc
        # --now: the files changed below the root, the unit is started or stopped by the manager
        from sysmasterd.cli.sctl_units import job_verb

        run, verb = job_verb, "start" if verb == "enable" else "stop"
    if opts.transport[0]:
        # no ssh bridge to a remote manager and no machined for containers here
        reason = "Host is down" if opts.transport[0] == "machine" else "Operation not supported"
        err(f"Failed to connect to bus: {reason}")
        return EXIT_FAILURE
    try:
        client = Client.connect(opts.user or opts.global_scope)
    except (OSError, ConnectionError, ValueError, CallError) as e:
        err(f"Failed to connect to bus: {e.strerror if isinstance(e, OSError) and e.strerror else e}")
        return EXIT_FAILURE
    paged = verb in _PAGED_VERBS
    if paged:
        from sysmasterd.cli import sctl_pager

        sctl_pager.start(not opts.no_pager)
    try:
        return run(client, opts, verb, args)
    except CallError as e:
        err(f"Failed: {e.text}")
        return exit_for(e)
    except BrokenPipeError:
        return 0
    finally:
        client.close()
        if paged:
            sctl_pager.end()


if __name__ == "__main__":
    sys.exit(main())
