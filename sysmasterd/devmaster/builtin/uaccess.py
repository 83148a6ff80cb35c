"""uaccess builtin: a no-op here.

udev's uaccess grants the active seat's user an ACL on the node through
logind. sysmaster-py ships no logind, so like udev without a running logind
it does nothing and succeeds.
"""

import logging
import os

from sysmasterd.devmaster.event import UdevEvent
from sysmasterd.devmaster.gaps import NOOP_BUILTINS
from udev_rules_translator.model import Builtin

log = logging.getLogger("devmaster")


def run(event: UdevEvent, argv: list[str], test: bool) -> int:
    # without logind udevd's uaccess is silent too; with one running, ours still grants nothing
    if os.path.exists("/run/systemd/seats/"):
        log.debug("%s: uaccess %s", event.dev.sysname, NOOP_BUILTINS[Builtin.UACCESS])
    return 0
