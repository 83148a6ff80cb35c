"""devctl test / test-builtin: run the rules or one builtin on a device, in-process.

test-builtin runs one builtin and must not pay for loading the rules: their modules are imported
by `test` alone. Both set up every builtin first, as udevadm does, for the same debug trace.
"""

from __future__ import annotations

import os
import sys

from sysmasterd.cli.devctl_common import VERSION_OR_HELP, UsageError, error, parse, version_or_help
from sysmasterd.cli.devctl_lookup import LookupFailed, find_device
from sysmasterd.devmaster.builtin.registry import DESCRIPTIONS, init_builtins, lookup, run_builtin, unload_builtins
from sysmasterd.devmaster.device import Device
from sysmasterd.devmaster.event import EventSettings, UdevEvent

TYPE_CHECKING = False  # mypy knows the name; typing's import is not needed at run time
if TYPE_CHECKING:
    from sysmasterd.devmaster.rules.executor import RuleExecutor

ACTIONS = ("add", "remove", "change", "move", "online", "offline", "bind", "unbind")
HELP_TEST = """{prog} test [OPTIONS] DEVPATH

Test an event run.

  -h --help                            Show this help
  -V --version                         Show package version
  -a --action=ACTION|help              Set action string
  -N --resolve-names=early|late|never  When to resolve names"""
HELP_BUILTIN = """{prog} test-builtin [OPTIONS] COMMAND DEVPATH

Test a built-in command.

  -h --help               Print this message
  -V --version            Print version of the program

  -a --action=ACTION|help Set action string
Commands:"""


def _action(val: str) -> str | None:
    if val == "help":
        print("\n".join(ACTIONS))
        return None
    if val not in ACTIONS:
        raise UsageError(f"Invalid action '{val}'")
    return val


def _debug_trace() -> None:
    """udevadm test and test-builtin log at debug level on stderr: the builtins' set-up (hwdb,
    kmod, .link files), the rules files, each rule that does something, the teardown."""
    import logging

    logging.basicConfig(stream=sys.stderr, format="%(message)s", level=logging.DEBUG)
    init_builtins()


def _open(path: str) -> Device | None:
    """find_device(): the device with its uevent file read; None once the error is logged."""
    import logging

    trace: list[str] = []
    try:
        dev: Device | None = find_device(path, "/sys", subsystem_first=None, trace=trace)
        failure = None
    except LookupFailed as e:
        dev, failure = None, e
    for line in trace:
        logging.getLogger("devmaster").debug("%s", line)
    if failure is not None:
        error(f"Failed to open device '{path}': {failure}")
    return dev


def main(argv: list[str], prog: str = "udevadm") -> int:
    o = parse("test", argv, "a:N:Vh", ["action=", "resolve-names=", "version", "help"])
    action, resolve = "add", "early"
    for opt, val in o.opts:
        if opt in ("-a", "--action"):
            chosen = _action(val)
            if chosen is None:
                return 0
            action = chosen
        elif opt in ("-N", "--resolve-names"):
            if val not in ("early", "late", "never"):
                raise UsageError("--resolve-names= must be early, late or never")
            resolve = val
        elif opt in VERSION_OR_HELP:
            return version_or_help(opt, HELP_TEST.format(prog=prog))
    if not o.args:
        raise UsageError("syspath parameter missing.")
    print("This program is for debugging only, it does not run any program\n"
          "specified by a RUN key. It may show incorrect results, because\n"
          "some values may be different, or not available at a simulation run.\n", flush=True)
    _debug_trace()
    try:
        from sysmasterd.devmaster.rules.loader import load_rules

        rules = load_rules(None, resolve)
        dev = _open(o.args[0])
        if dev is None:
            return 1
        print(render_result(simulate(dev, action, rules)), end="", flush=True)
        return 0
    finally:
        unload_builtins()


def _set_action(dev: Device, action: str) -> str | None:
    """ACTION is set after the uevent file is read and, for a device found by its syspath, before
    SUBSYSTEM, which sd-device adds when first asked for: the order `udevadm test` lists the
    properties in. The device's subsystem is returned."""
    dev.properties["ACTION"] = action
    subsystem = dev.subsystem
    if subsystem is not None:
        dev.properties.setdefault("SUBSYSTEM", subsystem)
    return subsystem


def simulate(dev: Device, action: str, rules: RuleExecutor) -> UdevEvent:
    """What `udevadm test` does: rules applied, links and db written, RUN only listed."""
    subsystem = _set_action(dev, action)
    from sysmasterd.devmaster.framework import processing

    event = UdevEvent(dev, EventSettings(event_timeout=60.0))
    if subsystem is None and action != "remove":
        # a sysfs directory without a subsystem has no device id, so no database copy to work on
        import logging

        logging.getLogger("devmaster").debug("%s: Failed to clone sd_device object: No such file or directory",
                                             dev.sysname)
        return event
    processing.execute_rules(event, rules)
    return event


def render_result(event: UdevEvent) -> str:
    lines = [f"{key}={value}" for key, value in event.dev.all_properties().items()]
    lines += [f"run: '{command}'" for _, command in event.run]
    return "".join(line + "\n" for line in lines)


def builtin_main(argv: list[str], prog: str = "udevadm") -> int:
    o = parse("test-builtin", argv, "a:Vh", ["action=", "version", "help"])
    action = "add"
    for opt, val in o.opts:
        if opt in ("-a", "--action"):
            chosen = _action(val)
            if chosen is None:
                return 0
            action = chosen
        elif opt in VERSION_OR_HELP:
            rc = version_or_help(opt, HELP_BUILTIN.format(prog=prog))
            if opt in ("-h", "--help"):
                # udevadm lists the builtins on stderr, after the help on stdout
                sys.stdout.flush()
                print("\n".join(f"  {k:<14}  {v}" for k, v in DESCRIPTIONS.items()), file=sys.stderr)
            return rc
    if len(o.args) != 2:
        raise UsageError("Expected two arguments: command string and device path.")
    command, path = o.args[0], o.args[1]
    _debug_trace()
    try:
        name = lookup(command)
        if name is None:
            return error(f"Unknown command '{command}'")
        dev = _open(path)
        if dev is None:
            return 1
        _set_action(dev, action)
        rc = run_builtin(name, UdevEvent(dev, EventSettings()), command, test=True)
        sys.stdout.flush()
        if rc < 0:
            return error(f"Builtin command '{command}' fails: {os.strerror(-rc)}")
        return 0
    finally:
        unload_builtins()
