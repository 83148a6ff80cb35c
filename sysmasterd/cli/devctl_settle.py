"""devctl settle: wait for the event queue to drain (udevadm settle)."""

import os
import time

from sysmasterd.cli import devctl_client as control
from sysmasterd.cli.devctl_common import VERSION_OR_HELP, error, parse, parse_timeout, version_or_help
from sysmasterd.devmaster.framework.control_wire import ControlMessage, ControlType

QUEUE = "/run/udev/queue"
HELP = """{prog} settle [OPTIONS]

Wait for pending udev events.

  -h --help                 Show this help
  -V --version              Show package version
  -t --timeout=SEC          Maximum time to wait for events
  -E --exit-if-exists=FILE  Stop waiting if file exists"""


def main(argv: list[str], prog: str = "udevadm") -> int:
    o = parse("settle", argv, "t:E:Vhs:e:q", ["timeout=", "exit-if-exists=", "version", "help", "seq-start=",
                                               "seq-end=", "quiet"])
    timeout, exists = 120.0, None
    for opt, val in o.opts:
        if opt in ("-t", "--timeout"):
            timeout = parse_timeout(val, "Failed to parse timeout value")
        elif opt in ("-E", "--exit-if-exists"):
            exists = val
        elif opt in ("-s", "--seq-start", "-e", "--seq-end", "-q", "--quiet"):
            letter = {"--seq-start": "s", "--seq-end": "e", "--quiet": "q"}.get(opt, opt[1:])
            return error(f"Option -{letter} no longer supported.")
        elif opt in VERSION_OR_HELP:
            return version_or_help(opt, HELP.format(prog=prog))
    if os.getuid() == 0:
        try:
            control.send([ControlMessage(ControlType.PING)], max(5.0, timeout))
        except control.ControlError as e:
            if e.errno == 110:
                return error("Failed to wait for daemon to reply: Connection timed out")
            return 0
        except OSError:
            return 0
    elif not os.path.exists(control.CONTROL_PATH):
        return error("systemd-udevd is not running.")
    deadline = time.monotonic() + timeout
    while True:
        if exists and os.path.exists(exists):
            return 0
        if not os.path.exists(QUEUE):
            return 0
        if time.monotonic() >= deadline:
            return error("Timed out for waiting the udev queue being empty.")
        time.sleep(0.02)
