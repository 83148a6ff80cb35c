"""Access checks for mutating calls: root and the private socket pass, others ask polkit.

As systemd does: on the system bus a non-root caller is allowed when polkit's CheckAuthorization
says so for the action; on a user manager the session bus policy already admits only its owner.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from dbus_fast import Message, MessageFlag, Variant

from sysmasterd.bus import errors

if TYPE_CHECKING:
    from sysmasterd.bus.router import Call

log = logging.getLogger(__name__)

ALLOW_USER_INTERACTION = 1


def _check_authorization(sender: str, action: str, interactive: bool) -> Message:
    subject = ["system-bus-name", {"name": Variant("s", sender)}]
    return Message(
        destination="org.freedesktop.PolicyKit1",
        path="/org/freedesktop/PolicyKit1/Authority",
        interface="org.freedesktop.PolicyKit1.Authority",
        member="CheckAuthorization",
        signature="(sa{sv})sa{ss}us",
        body=[subject, action, {}, ALLOW_USER_INTERACTION if interactive else 0, ""],
    )


class Authorizer:
    def __init__(self, system_scope: bool) -> None:
        self._system = system_scope

    async def __call__(self, call: Call, action: str) -> None:
        if not call.conn.is_bus or not self._system:
            return
        if await call.caller_uid() == 0:
            return
        sender = call.msg.sender or ""
        interactive = bool(call.msg.flags & MessageFlag.ALLOW_INTERACTIVE_AUTHORIZATION)
        reply = await call.conn.call(_check_authorization(sender, action, interactive))
        if reply.error_name:
            log.info("polkit check of %s for %s failed: %s", action, sender, reply.error_name)
            raise errors.bus_error(errors.ACCESS_DENIED, "Access denied")
        authorized, challenge, _details = reply.body[0]
        if authorized:
            return
        if challenge:
            raise errors.bus_error(
                errors.INTERACTIVE_AUTHORIZATION_REQUIRED, "Interactive authentication required."
            )
        raise errors.bus_error(errors.ACCESS_DENIED, "Access denied")
