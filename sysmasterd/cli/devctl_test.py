"""devctl test / test-builtin: run the rules or one builtin on a device, in-process.

test-builtin runs one builtin and must not pay for loading the rules: their modules are imported
by `test` alone.
"""

from __future__ import annotations

import os
import sys

from sysmasterd.cli.devctl_common import VERSION_OR_HELP, UsageError, error, find_device, parse, version_or_help
from sysmasterd.devmaster.builtin.registry import DESCRIPTIONS, lookup, run_builtin
from sysmasterd.devmaster.device import Device, DeviceNotFound
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


def _setup_logging() -> None:
    import logging  # test's alone: test-builtin prints through add_property

    logging.basicConfig(stream=sys.stderr, format="%(message)s", level=logging.DEBUG)


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
                raise UsageError("--resolve-names= takes \"early\", \"late\" or \"never\"")
            resolve = val
        elif opt in VERSION_OR_HELP:
            return version_or_help(opt, HELP_TEST.format(prog=prog))
    if not o.args:
        raise UsageError("syspath parameter missing.")
    _setup_logging()
    print("This program is for debugging only, it does not run any program\n"
          "specified by a RUN key. It may show incorrect results, because\n"
          "some values may be different, or not available at a simulation run.\n", flush=True)
    from sysmasterd.devmaster.rules.loader import load_rules

    rules = load_rules(None, resolve)
    try:
        dev = find_device(o.args[0], "/sys")
    except DeviceNotFound:
        return error(f"Failed to open device '{o.args[0]}': No such device")
    print(render_result(simulate(dev, action, rules)), end="")
    return 0


def simulate(dev: Device, action: str, rules: RuleExecutor) -> UdevEvent:
    """What `udevadm test` does: rules applied, links and db written, RUN only listed."""
    dev.properties["ACTION"] = action
    from sysmasterd.devmaster.framework import processing

    event = UdevEvent(dev, EventSettings(event_timeout=60.0))
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
    name = lookup(command)
    if name is None:
        return error(f"Unknown command '{command}'")
    try:
        dev = find_device(path, "/sys")
    except DeviceNotFound:
        return error(f"Failed to open device '{path}': No such device")
    dev.properties["ACTION"] = action
    event = UdevEvent(dev, EventSettings())
    rc = run_builtin(name, event, command, test=True)
    if rc < 0:
        return error(f"Builtin command '{command}' fails: {os.strerror(-rc)}")
    return 0
