"""Who asked for signals on the bus (Manager.Subscribe), as systemd tracks it.

Unit and manager signals go to the bus only while some client is subscribed (peers on the private
socket always get them, as with systemd). A subscriber is forgotten when its name leaves the bus.
"""

from __future__ import annotations

from collections.abc import Callable

from dbus_fast import Message, MessageFlag

from sysmasterd.bus.connection import Connection


def match_call(member: str, rule: str) -> Message:
    return Message(destination="org.freedesktop.DBus", path="/org/freedesktop/DBus",
                   interface="org.freedesktop.DBus", member=member, signature="s", body=[rule],
                   flags=MessageFlag.NO_REPLY_EXPECTED)


def owner_rule(name: str) -> str:
    return (f"type='signal',sender='org.freedesktop.DBus',interface='org.freedesktop.DBus',"
            f"member='NameOwnerChanged',arg0='{name}'")


def name_owner_change(msg: Message) -> tuple[str, str | None] | None:
    """(name, new owner or None) of the bus daemon's NameOwnerChanged; None for other signals."""
    if msg.member == "NameOwnerChanged" and msg.sender == "org.freedesktop.DBus" and len(msg.body) == 3:
        name, _old, new = msg.body
        return name, new or None
    return None


class Subscriptions:
    def __init__(self) -> None:
        self._names: set[str] = set()
        self.changed: Callable[[], None] = lambda: None  # kept across core restarts (bus/clientstate.py)

    def __bool__(self) -> bool:
        return bool(self._names)

    def names(self) -> frozenset[str]:
        return frozenset(self._names)

    def subscribe(self, conn: Connection, sender: str | None) -> None:
        if not conn.is_bus or not sender or sender in self._names:
            return
        self._names.add(sender)
        conn.send(match_call("AddMatch", owner_rule(sender)))
        self.changed()

    def unsubscribe(self, conn: Connection, sender: str | None) -> None:
        if conn.is_bus and sender in self._names:
            self._names.discard(sender)
            conn.send(match_call("RemoveMatch", owner_rule(sender)))
            self.changed()

    def on_signal(self, conn: Connection, msg: Message) -> None:
        change = name_owner_change(msg)
        if change is not None and change[1] is None and change[0] in self._names:
            self._names.discard(change[0])
            self.changed()

    def reset(self) -> None:
        """The bus connection was lost: its subscribers' names are meaningless on the next one."""
        self._names.clear()
