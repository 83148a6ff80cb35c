"""The bus clients the manager serves signals to, kept across a core restart as systemd serializes
them: the names that called Subscribe() and the names holding unit references (AddRef=).

Without them a restarted core stops sending PropertiesChanged to a client that waits for its
unit (`systemd-run --wait`, `--pipe`), which then waits for ever, and collects units a client
still holds. They are written to the state store whenever they change; a new core takes back
those whose name is still on the bus, once it is connected, and forgets the others.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from dbus_fast import MessageType

from sysmasterd.bus.apibus import bus_call

if TYPE_CHECKING:
    from sysmasterd.bus.connection import Connection
    from sysmasterd.bus.subscriptions import Subscriptions
    from sysmasterd.bus.transient_methods import ClientRefs
    from sysmasterd.core.manager import Manager

META_KEY = "bus-clients"


class ClientState:
    def __init__(self, manager: Manager, subscriptions: Subscriptions, refs: ClientRefs) -> None:
        self.manager = manager
        self.subscriptions = subscriptions
        self.refs = refs
        self._written: dict[str, Any] = {}
        # Until the previous core's clients are taken back, what is stored stays as it is.
        self._restoring = True
        self._tasks: set[asyncio.Task[None]] = set()
        subscriptions.changed = refs.changed = self.save

    def snapshot(self) -> dict[str, Any]:
        return {"subscribers": sorted(self.subscriptions.names()),
                "refs": {uid: sorted(t for t in tokens if isinstance(t, str))
                         for uid, tokens in sorted(self.manager.transient.refs.items())
                         if any(isinstance(t, str) for t in tokens)}}

    def save(self) -> None:
        store = self.manager.store
        if store is None or self._restoring:
            return
        snap = self.snapshot()
        if snap != self._written:
            store.set_meta(META_KEY, snap)
            self._written = snap

    def connected(self, conn: Connection) -> None:
        """On the bus (the first time): take back the previous core's clients still there."""
        if not self._restoring:
            return
        store = self.manager.store
        stored = store.get_meta(META_KEY) if store is not None else None
        if not isinstance(stored, dict) or not (stored.get("subscribers") or stored.get("refs")):
            self._restoring = False
            self.save()
            return
        task = asyncio.get_running_loop().create_task(self._restore(conn, stored))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _restore(self, conn: Connection, stored: dict[str, Any]) -> None:
        subscribers = [str(n) for n in stored.get("subscribers", [])]
        refs = {str(uid): [str(n) for n in names] for uid, names in dict(stored.get("refs", {})).items()}
        alive = set()
        try:
            for name in sorted({*subscribers, *(n for names in refs.values() for n in names)}):
                reply = await conn.call(bus_call("GetNameOwner", "s", [name]))
                if reply.message_type is not MessageType.ERROR:
                    alive.add(name)
        except ConnectionError:
            return  # the bus went away again: the next connection starts from nothing
        for name in subscribers:
            if name in alive:
                self.subscriptions.subscribe(conn, name)
        for uid, names in refs.items():
            u = self.manager.get_unit(uid)
            for name in names:
                if u is not None and name in alive:
                    self.manager.transient.ref(u, self.refs.watch(conn, name))
        self._restoring = False
        self.save()
