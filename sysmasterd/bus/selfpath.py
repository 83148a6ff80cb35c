"""`/org/freedesktop/systemd1/unit/self`: the unit of the calling process, as systemd resolves it
(`systemd-run --scope` asks it for the InvocationID of the scope it just moved into)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from dbus_fast import Message

from sysmasterd.bus import errors

if TYPE_CHECKING:
    from sysmasterd.bus.connection import Connection

SELF_PATH = "/org/freedesktop/systemd1/unit/self"

UnitPathOfPid = Callable[[int], "str | None"]


async def caller_pid(conn: Connection, sender: str | None) -> int:
    """The PID of the caller: its socket's peer on the private socket, the bus daemon's word on the bus."""
    if not conn.is_bus:
        return conn.peer_pid or 0
    reply = await conn.call(Message(destination="org.freedesktop.DBus", path="/org/freedesktop/DBus",
                                    interface="org.freedesktop.DBus", member="GetConnectionUnixProcessID",
                                    signature="s", body=[sender or ""]))
    if reply.error_name:
        raise errors.bus_error(errors.FAILED, "Cannot determine the caller's PID.")
    return int(reply.body[0])


async def resolve_self(conn: Connection, msg: Message, unit_path_of_pid: UnitPathOfPid) -> None:
    """Point the call at the caller's unit, or fail it as systemd does for a PID in no unit."""
    pid = await caller_pid(conn, msg.sender)
    path = unit_path_of_pid(pid)
    if path is None:
        raise errors.bus_error(errors.NO_UNIT_FOR_PID, f"PID {pid} does not belong to any loaded unit.")
    msg.path = path
