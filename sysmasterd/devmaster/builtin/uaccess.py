"""uaccess builtin: a no-op here.

udev's uaccess grants the active seat's user an ACL on the node through
logind. sysmaster-py ships no logind, so like udev without a running logind
it does nothing and succeeds.
"""

import logging

from sysmasterd.devmaster.event import UdevEvent

log = logging.getLogger("devmaster")


def run(event: UdevEvent, argv: list[str], test: bool) -> int:
    log.debug("%s: uaccess: no logind, no ACLs applied", event.dev.sysname)
    return 0
