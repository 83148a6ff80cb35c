"""The core's BusNames backend on the API bus: the owners of the names Type=dbus services wait
for, as the bus daemon reports them (a match on NameOwnerChanged, then GetNameOwner)."""

from __future__ import annotations

import asyncio
import logging

from dbus_fast import Message, MessageType

from sysmasterd.bus.apibus import bus_call
from sysmasterd.bus.connection import Connection
from sysmasterd.bus.subscriptions import match_call, name_owner_change, owner_rule
from sysmasterd.core.busnames import BusNames
from sysmasterd.tasks import one_shot

log = logging.getLogger(__name__)


class NameOwners:
    def __init__(self, conn: Connection, names: BusNames) -> None:
        self.conn = conn
        self.names = names
        self._queries: set[asyncio.Task[None]] = set()

    def watch(self, name: str) -> None:
        # The match first: a change after the query is then reported by a signal after its reply.
        self.conn.send(match_call("AddMatch", owner_rule(name)))
        task = one_shot(self._query(name), f"name owner query of {name}", log)
        self._queries.add(task)
        task.add_done_callback(self._queries.discard)

    def unwatch(self, name: str) -> None:
        self.conn.send(match_call("RemoveMatch", owner_rule(name)))

    async def _query(self, name: str) -> None:
        try:
            reply = await self.conn.call(bus_call("GetNameOwner", "s", [name]))
        except ConnectionError:
            return
        owned = reply.message_type is not MessageType.ERROR and reply.body
        self.names.owner_changed(name, str(reply.body[0]) if owned else None)

    def on_signal(self, conn: Connection, msg: Message) -> None:
        change = name_owner_change(msg)
        if change is not None:
            self.names.owner_changed(*change)

    def close(self) -> None:
        for task in list(self._queries):
            task.cancel()
