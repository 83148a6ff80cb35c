"""sctl's connection to the manager: the private socket when we may use it, else the bus.

Uses the same Connection class as the daemon (dbus-fast marshalling), so sctl needs no bus
library beyond what sysmasterd already has.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from dbus_fast import Message, MessageType, Variant

from sysmasterd.bus.connection import Connection, connect_bus

DEST = "org.freedesktop.systemd1"
MANAGER_PATH = "/org/freedesktop/systemd1"
MANAGER = "org.freedesktop.systemd1.Manager"
UNIT = "org.freedesktop.systemd1.Unit"
PROPERTIES = "org.freedesktop.DBus.Properties"


class CallError(Exception):
    def __init__(self, name: str, text: str) -> None:
        super().__init__(text)
        self.name = name
        self.text = text


def _private_socket(user: bool) -> Path:
    if user:
        xdg = os.environ.get("XDG_RUNTIME_DIR") or f"/run/user/{os.geteuid()}"
        return Path(xdg) / "systemd" / "private"
    return Path("/run/systemd/private")


def _bus_address(user: bool) -> str:
    if user:
        env = os.environ.get("DBUS_SESSION_BUS_ADDRESS")
        if env:
            return env
        xdg = os.environ.get("XDG_RUNTIME_DIR") or f"/run/user/{os.geteuid()}"
        return f"unix:path={xdg}/bus"
    return os.environ.get("DBUS_SYSTEM_BUS_ADDRESS") or "unix:path=/run/dbus/system_bus_socket"


def unwrap(value: Any) -> Any:
    return value.value if isinstance(value, Variant) else value


class Client:
    def __init__(self, conn: Connection, via_bus: bool) -> None:
        self.conn = conn
        self.via_bus = via_bus
        self.removed: dict[str, str] = {}
        self._job_event = asyncio.Event()
        conn.on_signal = self._on_signal

    @classmethod
    async def connect(cls, user: bool) -> Client:
        force_bus = os.environ.get("SYSTEMCTL_FORCE_BUS", "") in ("1", "yes", "true")
        private = _private_socket(user)
        if not force_bus and (user or os.geteuid() == 0) and private.exists():
            try:
                conn = await connect_bus(f"unix:path={private}", "private")
                conn.start()
                return cls(conn, via_bus=False)
            except OSError:
                pass
        conn = await connect_bus(_bus_address(user), "bus")
        conn.start()
        client = cls(conn, via_bus=True)
        await client.call("/org/freedesktop/DBus", "org.freedesktop.DBus", "Hello",
                          destination="org.freedesktop.DBus")
        return client

    def close(self) -> None:
        self.conn.close()

    async def subscribe_jobs(self) -> None:
        if self.via_bus:
            rule = (f"type='signal',sender='{DEST}',interface='{MANAGER}',member='JobRemoved',"
                    f"path='{MANAGER_PATH}'")
            await self.call("/org/freedesktop/DBus", "org.freedesktop.DBus", "AddMatch", "s", [rule],
                            destination="org.freedesktop.DBus")
        await self.manager("Subscribe")

    def _on_signal(self, conn: Connection, msg: Message) -> None:
        if msg.member == "JobRemoved" and msg.interface == MANAGER:
            self.removed[msg.body[1]] = msg.body[3]
            self._job_event.set()

    async def wait_jobs(self, paths: list[str]) -> dict[str, str]:
        while not all(p in self.removed for p in paths):
            self._job_event.clear()
            await self._job_event.wait()
        return {p: self.removed[p] for p in paths}

    async def call(self, path: str, interface: str, member: str, signature: str = "",
                   body: list[Any] | None = None, destination: str = DEST) -> list[Any]:
        reply = await self.conn.call(Message(destination=destination, path=path, interface=interface,
                                             member=member, signature=signature, body=body or []))
        if reply.message_type is MessageType.ERROR:
            text = reply.body[0] if reply.body else reply.error_name or ""
            raise CallError(reply.error_name or "", text)
        return list(reply.body)

    async def manager(self, member: str, signature: str = "", body: list[Any] | None = None) -> Any:
        result = await self.call(MANAGER_PATH, MANAGER, member, signature, body)
        return result[0] if len(result) == 1 else result

    async def get_all(self, path: str, interface: str = "") -> dict[str, Any]:
        (values,) = await self.call(path, PROPERTIES, "GetAll", "s", [interface])
        return {k: unwrap(v) for k, v in values.items()}

    async def get_all_typed(self, path: str, interface: str = "") -> dict[str, tuple[str, Any]]:
        (values,) = await self.call(path, PROPERTIES, "GetAll", "s", [interface])
        return {k: (v.signature, v.value) for k, v in values.items()}

    async def get(self, path: str, interface: str, name: str) -> Any:
        (value,) = await self.call(path, PROPERTIES, "Get", "ss", [interface, name])
        return unwrap(value)

    async def unit_path(self, name: str) -> str:
        return str(await self.manager("LoadUnit", "s", [name]))
