"""devctl control: talk to the daemon over /run/udev/control (udevadm control)."""

import os

from sysmasterd.cli import devctl_client as control
from sysmasterd.cli.devctl_common import (
    VERSION_OR_HELP,
    UsageError,
    error,
    parse,
    parse_timeout,
    parse_unsigned,
    version_or_help,
)
from sysmasterd.devmaster.framework.control_wire import ControlMessage, ControlType

HELP = """{prog} control OPTION

Control the udev daemon.

  -h --help                Show this help
  -V --version             Show package version
  -e --exit                Instruct the daemon to cleanup and exit
  -l --log-level=LEVEL     Set the udev log level for the daemon
  -s --stop-exec-queue     Do not execute events, queue only
  -S --start-exec-queue    Execute events, flush queue
  -R --reload              Reload rules and databases
  -p --property=KEY=VALUE  Set a global property for all events
  -m --children-max=N      Maximum number of children
     --ping                Wait for udev to respond to a ping message
  -t --timeout=SECONDS     Maximum time to block for a reply"""

_FAILED = {
    ControlType.EXIT: "Failed to send exit request",
    ControlType.SET_LOG_LEVEL: "Failed to send request to set log level",
    ControlType.STOP_EXEC_QUEUE: "Failed to send request to stop exec queue",
    ControlType.START_EXEC_QUEUE: "Failed to send request to start exec queue",
    ControlType.RELOAD: "Failed to send reload request",
    ControlType.SET_ENV: "Failed to send request to update environment",
    ControlType.SET_CHILDREN_MAX: "Failed to send request to set number of children",
    ControlType.PING: "Failed to send a ping message",
}


def main(argv: list[str], prog: str = "udevadm") -> int:
    if os.geteuid() != 0:
        return error("This command requires root privileges.")
    o = parse("control", argv, "el:sSRp:m:t:Vh",
              ["exit", "log-level=", "log-priority=", "stop-exec-queue", "start-exec-queue", "reload",
               "reload-rules", "property=", "env=", "children-max=", "ping", "timeout=", "version", "help"],
              aliases={"log-priority": "log-level", "reload-rules": "reload", "env": "property"})
    if not argv:
        raise UsageError("This command expects one or more options.")
    timeout = 60.0
    # udevadm keeps the last of each setting and sends them in its own order, the ping last, so
    # `--ping -R` answers once the reload is done
    leave = reload = ping = False
    log_level: int | None = None
    exec_queue: bool | None = None
    children_max: int | None = None
    env: list[str] = []
    for opt, val in o.opts:
        if opt in ("-e", "--exit"):
            leave = True
        elif opt in ("-l", "--log-level", "--log-priority"):
            try:
                from sysmasterd.devmaster.config import parse_log_level  # configobj: only for this option

                log_level = parse_log_level(val)
            except ValueError:
                raise UsageError(f"Failed to parse log level '{val}': Invalid argument") from None
        elif opt in ("-s", "--stop-exec-queue", "-S", "--start-exec-queue"):
            exec_queue = opt in ("-S", "--start-exec-queue")
        elif opt in ("-R", "--reload", "--reload-rules"):
            reload = True
        elif opt in ("-p", "--property", "--env"):
            if "=" not in val:
                raise UsageError(f"expect <KEY>=<value> instead of '{val}'")
            env.append(val)
        elif opt in ("-m", "--children-max"):
            children_max = parse_unsigned(val, "Failed to parse maximum number of children")
        elif opt == "--ping":
            ping = True
        elif opt in ("-t", "--timeout"):
            timeout = parse_timeout(val, "Failed to parse timeout value")
        elif opt in VERSION_OR_HELP:
            return version_or_help(opt, HELP.format(prog=prog))
    if o.args:
        raise UsageError("Extraneous argument: " + o.args[0])
    if leave:
        messages = [ControlMessage(ControlType.EXIT)]
    else:
        messages = [ControlMessage(ControlType.SET_LOG_LEVEL, log_level)] if log_level is not None else []
        if exec_queue is not None:
            messages.append(ControlMessage(ControlType.START_EXEC_QUEUE if exec_queue else ControlType.STOP_EXEC_QUEUE))
        messages += [ControlMessage(ControlType.RELOAD)] if reload else []
        messages += [ControlMessage(ControlType.SET_ENV, text=item) for item in env]
        if children_max is not None:
            messages.append(ControlMessage(ControlType.SET_CHILDREN_MAX, children_max))
        messages += [ControlMessage(ControlType.PING)] if ping else []
    if not messages:
        return 0
    try:
        control.send(messages, timeout if timeout != float("inf") else 0)
    except control.ControlError as e:
        if e.errno == 110:
            return error("Failed to wait for daemon to reply: Connection timed out")
        return error(f"{_FAILED[ControlType(messages[0].type)]}: {str(e).split(': ', 1)[-1]}")
    return 0
