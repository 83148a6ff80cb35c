"""The connection to the system or session bus: connect when the bus appears, own the name,
reconnect when the bus daemon restarts. Core runs fine without it meanwhile."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from dbus_fast import Message

from sysmasterd.bus.connection import AuthFailed, Connection, connect_bus

log = logging.getLogger(__name__)

BUS_NAME = "org.freedesktop.systemd1"
RETRY_SECONDS = 1.0
NAME_FLAG_DO_NOT_QUEUE = 4
NAME_PRIMARY_OWNER = 1


def bus_call(member: str, signature: str = "", body: list[object] | None = None) -> Message:
    return Message(
        destination="org.freedesktop.DBus",
        path="/org/freedesktop/DBus",
        interface="org.freedesktop.DBus",
        member=member,
        signature=signature,
        body=body or [],
    )


class ApiBus:
    def __init__(self, address: Callable[[], str], on_connection: Callable[[Connection], None],
                 on_ready: Callable[[Connection], None] = lambda conn: None,
                 on_lost: Callable[[Connection], None] = lambda conn: None) -> None:
        """`on_connection`: a new connection, before Hello; `on_ready`: it owns our name;
        `on_lost`: it is gone."""
        self._address = address
        self._on_connection = on_connection
        self._on_ready = on_ready
        self._on_lost = on_lost
        self.connection: Connection | None = None

    async def run(self) -> None:
        """Forever: connect, serve until the bus goes away, try again."""
        quiet = False
        while True:
            try:
                conn = await self._connect()
            except (OSError, AuthFailed, TimeoutError, ConnectionError) as exc:
                if not quiet:
                    log.info("bus not available yet (%s); will connect when it appears", exc)
                    quiet = True
                await asyncio.sleep(RETRY_SECONDS)
                continue
            quiet = False
            self.connection = conn
            log.info("connected to the bus as %s", conn.unique_name)
            self._on_ready(conn)
            try:
                await conn.closed
            finally:
                self._on_lost(conn)
            self.connection = None
            log.info("lost the bus; reconnecting")

    async def _connect(self) -> Connection:
        conn = await connect_bus(self._address(), "bus")
        self._on_connection(conn)
        conn.start()
        try:
            hello = await asyncio.wait_for(conn.call(bus_call("Hello")), 10)
            if hello.error_name:
                raise ConnectionError(f"Hello failed: {hello.error_name}")
            conn.unique_name = hello.body[0]
            owned = await conn.call(bus_call("RequestName", "su", [BUS_NAME, NAME_FLAG_DO_NOT_QUEUE]))
            if owned.error_name or owned.body[0] != NAME_PRIMARY_OWNER:
                raise ConnectionError(f"cannot own {BUS_NAME}: {owned.error_name or owned.body[0]}")
        except BaseException:
            conn.close()
            raise
        return conn
