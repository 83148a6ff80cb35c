"""Bus activation through the service manager, as dbus-daemon's --systemd-activation expects it:
the bus driver emits org.freedesktop.systemd1.Activator.ActivationRequest(name) with the name of
the unit to start (a service's SystemdService=, e.g. dbus-org.freedesktop.login1.service); when
that unit cannot be started the driver is told with ActivationFailure, so the client waiting for
the bus name gets an error instead of its whole timeout."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dbus_fast import Message, MessageFlag, MessageType

from compat.model import JobMode
from sysmasterd.bus.subscriptions import match_call
from sysmasterd.core import errors
from sysmasterd.core.states import JobType

if TYPE_CHECKING:
    from sysmasterd.bus.connection import Connection
    from sysmasterd.core.manager import Manager

ACTIVATOR = "org.freedesktop.systemd1.Activator"
DRIVER = "org.freedesktop.DBus"
RULE = f"type='signal',sender='{DRIVER}',path='/org/freedesktop/DBus',interface='{ACTIVATOR}'," \
       "member='ActivationRequest'"


class Activator:
    def __init__(self, conn: Connection, manager: Manager) -> None:
        self.conn = conn
        self.manager = manager
        conn.send(match_call("AddMatch", RULE))

    def on_signal(self, msg: Message) -> None:
        if (msg.message_type is not MessageType.SIGNAL or msg.interface != ACTIVATOR
                or msg.member != "ActivationRequest" or msg.signature != "s"):
            return
        if msg.sender != DRIVER:  # the bus resolves the driver's name: only it may ask
            return
        name = str(msg.body[0])
        m = self.manager
        try:
            m.engine.add_job(name, JobType.START, JobMode.REPLACE, manual=False)
            m.log.debug("Activation request for %s", name)
        except errors.ManagerError as e:
            m.log.warning("D-Bus activation failed for %s: %s", name, e.message)
            # A signal addressed to the driver, as systemd sends it.
            self.conn.send(Message(message_type=MessageType.SIGNAL, destination=DRIVER, path="/org/freedesktop/DBus",
                                   interface=ACTIVATOR, member="ActivationFailure", signature="sss",
                                   body=[name, e.name, e.message], flags=MessageFlag.NO_REPLY_EXPECTED))
