"""sctl's connection to the manager: the private socket when we may use it, else the bus.

Blocking calls through sysmasterd.cli.dbuswire: sctl makes a few calls in sequence, and an event
loop would cost more to import than the whole command takes otherwise.
"""

from __future__ import annotations

import os

from sysmasterd.cli.dbuswire import METHOD_CALL, CallFailed, Connection, Message, Variant

TYPE_CHECKING = False  # mypy knows this name; typing itself costs more to import than sctl may spend
if TYPE_CHECKING:
    from typing import Any

DEST = "org.freedesktop.systemd1"
MANAGER_PATH = "/org/freedesktop/systemd1"
MANAGER = "org.freedesktop.systemd1.Manager"
UNIT = "org.freedesktop.systemd1.Unit"
PROPERTIES = "org.freedesktop.DBus.Properties"

CallError = CallFailed


def _private_socket(user: bool) -> str:
    if user:
        xdg = os.environ.get("XDG_RUNTIME_DIR") or f"/run/user/{os.geteuid()}"
        return f"{xdg}/systemd/private"
    return "/run/systemd/private"


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
        conn.on_signal = self._on_signal

    @classmethod
    def connect(cls, user: bool) -> Client:
        force_bus = os.environ.get("SYSTEMCTL_FORCE_BUS", "") in ("1", "yes", "true")
        private = _private_socket(user)
        if not force_bus and (user or os.geteuid() == 0) and os.path.exists(private):
            try:
                return cls(Connection(f"unix:path={private}", bus=False), via_bus=False)
            except OSError:
                pass
        return cls.on_bus(user)

    @classmethod
    def on_bus(cls, user: bool) -> Client:
        return cls(Connection(_bus_address(user), bus=True), via_bus=True)

    def close(self) -> None:
        self.conn.close()

    def subscribe_jobs(self) -> None:
        if self.via_bus:
            rule = (f"type='signal',sender='{DEST}',interface='{MANAGER}',member='JobRemoved',"
                    f"path='{MANAGER_PATH}'")
            self.call("/org/freedesktop/DBus", "org.freedesktop.DBus", "AddMatch", "s", [rule],
                      destination="org.freedesktop.DBus")
        self.manager("Subscribe")

    def _on_signal(self, msg: Message) -> None:
        if msg.member == "JobRemoved" and msg.interface == MANAGER:
            self.removed[msg.body[1]] = msg.body[3]

    def wait_jobs(self, paths: list[str]) -> dict[str, str]:
        while not all(p in self.removed for p in paths):
            self.conn.receive()
        return {p: self.removed[p] for p in paths}

    def call(self, path: str, interface: str, member: str, signature: str = "",
             body: list[Any] | None = None, destination: str = DEST) -> list[Any]:
        return self.conn.call(Message(METHOD_CALL, destination=destination, path=path, interface=interface,
                                      member=member, signature=signature, body=body)).body

    def manager(self, member: str, signature: str = "", body: list[Any] | None = None) -> Any:
        result = self.call(MANAGER_PATH, MANAGER, member, signature, body)
        return result[0] if len(result) == 1 else result

    def get_all(self, path: str, interface: str = "") -> dict[str, Any]:
        (values,) = self.call(path, PROPERTIES, "GetAll", "s", [interface])
        return {k: unwrap(v) for k, v in values.items()}

    def get_all_typed(self, path: str, interface: str = "") -> dict[str, tuple[str, Any]]:
        (values,) = self.call(path, PROPERTIES, "GetAll", "s", [interface])
        return {k: (v.signature, v.value) for k, v in values.items()}

    def get(self, path: str, interface: str, name: str, destination: str = DEST) -> Any:
        (value,) = self.call(path, PROPERTIES, "Get", "ss", [interface, name], destination)
        return unwrap(value)

    def set(self, path: str, interface: str, name: str, signature: str, value: Any, destination: str = DEST) -> None:
        self.call(path, PROPERTIES, "Set", "ssv", [interface, name, Variant(signature, value)], destination)

    def unit_path(self, name: str) -> str:
        return str(self.manager("LoadUnit", "s", [name]))
