"""Entry point of the D-Bus face: wire the interfaces to the manager and serve them.

The private socket is served at once; the bus is connected whenever it is (or becomes) available.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from dbus_fast import Message

from compat.model import Scope
from sysmasterd.bus.activator import Activator
from sysmasterd.bus.apibus import ApiBus
from sysmasterd.bus.automount_iface import AutomountInterface
from sysmasterd.bus.clientstate import ClientState
from sysmasterd.bus.connection import Connection
from sysmasterd.bus.device_iface import DeviceInterface
from sysmasterd.bus.job_iface import JobInterface
from sysmasterd.bus.logcontrol_iface import LogControlInterface
from sysmasterd.bus.manager_iface import ManagerInterface
from sysmasterd.bus.mount_iface import MountInterface
from sysmasterd.bus.nameowners import NameOwners
from sysmasterd.bus.objects import ObjectTree
from sysmasterd.bus.path_iface import PathInterface
from sysmasterd.bus.paths import unit_path
from sysmasterd.bus.polkit import Authorizer
from sysmasterd.bus.private import PrivateServer
from sysmasterd.bus.router import Router
from sysmasterd.bus.scope_iface import ScopeInterface
from sysmasterd.bus.service_iface import ServiceInterface
from sysmasterd.bus.signals import SignalEmitter
from sysmasterd.bus.slice_iface import SliceInterface
from sysmasterd.bus.socket_iface import SocketInterface
from sysmasterd.bus.subscriptions import Subscriptions
from sysmasterd.bus.swap_iface import SwapInterface
from sysmasterd.bus.target_iface import TargetInterface
from sysmasterd.bus.timer_iface import TimerInterface
from sysmasterd.bus.unit_iface import UnitInterface

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sysmasterd.core.manager import Manager

log = logging.getLogger(__name__)


def runtime_dir(scope: Scope) -> Path:
    if scope is Scope.SYSTEM:
        return Path("/run/systemd")
    xdg = os.environ.get("XDG_RUNTIME_DIR") or f"/run/user/{os.geteuid()}"
    return Path(xdg) / "systemd"


def default_bus_address(scope: Scope) -> str:
    if scope is Scope.SYSTEM:
        return os.environ.get("DBUS_SYSTEM_BUS_ADDRESS") or "unix:path=/run/dbus/system_bus_socket"
    env = os.environ.get("DBUS_SESSION_BUS_ADDRESS")
    if env:
        return env
    xdg = os.environ.get("XDG_RUNTIME_DIR") or f"/run/user/{os.geteuid()}"
    return f"unix:path={xdg}/bus"


class BusFace:
    """Everything the D-Bus face holds: interfaces, router, private server, bus connection."""

    def __init__(self, manager: Manager, scope: Scope, bus_address: str | None) -> None:
        self.manager = manager
        self.scope = scope
        self.subscriptions = Subscriptions()
        self.manager_iface = ManagerInterface(manager, self.subscriptions)
        self.tree = ObjectTree(
            manager,
            self.manager_iface,
            UnitInterface(self.manager_iface),
            [ServiceInterface(), TargetInterface(), SliceInterface(), PathInterface(), SocketInterface(),
             TimerInterface(), DeviceInterface(), MountInterface(), SwapInterface(),
             AutomountInterface(), ScopeInterface()],
            JobInterface(self.manager_iface),
            LogControlInterface(self.manager_iface.log),
        )
        self.router = Router(self.tree.resolve, Authorizer(scope is Scope.SYSTEM))
        self.router.unit_path_of_pid = self._unit_path_of_pid
        self.private = PrivateServer(runtime_dir(scope) / "private", self._adopt)
        self.api = ApiBus(lambda: bus_address or default_bus_address(scope), self._adopt, self._bus_ready,
                          self._bus_lost)
        self.name_owners: NameOwners | None = None
        self.activator: Activator | None = None
        self.signals = SignalEmitter(manager, self.subscriptions, self.connections, self.tree.unit_interfaces,
                                     self.tree.job_interface)
        self.clients = ClientState(manager, self.subscriptions, self.manager_iface.client_refs)

    def connections(self) -> Iterator[Connection]:
        if self.api.connection is not None:
            yield self.api.connection
        yield from self.private.peers

    def _unit_path_of_pid(self, pid: int) -> str | None:
        u = self.manager.runtime.unit_of_pid(pid)
        return unit_path(u.id) if u is not None else None

    def _adopt(self, conn: Connection) -> None:
        conn.on_call = self.router.handle
        if conn.is_bus:
            self.subscriptions.reset()
            self.manager_iface.client_refs.reset()
            conn.on_signal = self._on_bus_signal

    def _on_bus_signal(self, conn: Connection, msg: Message) -> None:
        self.subscriptions.on_signal(conn, msg)
        self.manager_iface.client_refs.on_signal(conn, msg)
        if self.name_owners is not None and self.name_owners.conn is conn:
            self.name_owners.on_signal(conn, msg)
        if self.activator is not None and self.activator.conn is conn:
            self.activator.on_signal(msg)

    def _bus_ready(self, conn: Connection) -> None:
        self.clients.connected(conn)
        self.name_owners = NameOwners(conn, self.manager.bus_names)
        self.manager.bus_names.attach(self.name_owners)
        self.activator = Activator(conn, self.manager)

    def _bus_lost(self, conn: Connection) -> None:
        if self.name_owners is not None and self.name_owners.conn is conn:
            self.manager.bus_names.detach(self.name_owners)
            self.name_owners.close()
            self.name_owners = None
        if self.activator is not None and self.activator.conn is conn:
            self.activator = None

    async def run(self) -> None:
        self.private.start()
        self.manager.add_observer(self.signals)
        try:
            await self.api.run()
        finally:
            self.private.stop()
            if self.api.connection is not None:
                self.api.connection.close()

