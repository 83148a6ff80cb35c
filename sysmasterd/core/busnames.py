"""BusName=: which watched D-Bus names have an owner, as the bus connection reports it.

A Type=dbus service is ready once its name is owned and stops when the name is released
(systemd's bus_name_good). The core keeps the table; the D-Bus face is its backend: it asks the
bus about every watched name and reports owner changes. Without a bus connection nothing is
reported, so such a service waits for its start timeout, as under systemd before the bus is up.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

OwnerCallback = Callable[[str | None], None]


class BusNameBackend(Protocol):
    def watch(self, name: str) -> None:
        """Report the name's current owner, then every change of it."""

    def unwatch(self, name: str) -> None: ...


class BusNames:
    def __init__(self) -> None:
        self._owners: dict[str, str] = {}
        self._callbacks: dict[str, list[OwnerCallback]] = {}
        self._backend: BusNameBackend | None = None

    def owner(self, name: str) -> str | None:
        """The owner last reported; None when unowned or not known yet."""
        return self._owners.get(name)

    def watch(self, name: str, callback: OwnerCallback) -> None:
        first = name not in self._callbacks
        self._callbacks.setdefault(name, []).append(callback)
        if first and self._backend is not None:
            self._backend.watch(name)

    def unwatch(self, name: str, callback: OwnerCallback) -> None:
        callbacks = self._callbacks.get(name)
        if callbacks is None or callback not in callbacks:
            return
        callbacks.remove(callback)
        if not callbacks:
            del self._callbacks[name]
            self._owners.pop(name, None)
            if self._backend is not None:
                self._backend.unwatch(name)

    def owner_changed(self, name: str, owner: str | None) -> None:
        """From the backend: `name` is now owned by `owner` (None: by nobody)."""
        if name not in self._callbacks:
            return
        if owner:
            self._owners[name] = owner
        else:
            self._owners.pop(name, None)
        for callback in list(self._callbacks.get(name, ())):
            callback(owner or None)

    def attach(self, backend: BusNameBackend) -> None:
        """A bus connection is up: it learns every watched name (and reports their owners)."""
        self._backend = backend
        for name in list(self._callbacks):
            backend.watch(name)

    def detach(self, backend: BusNameBackend) -> None:
        """The connection is gone. What it last reported stays until the next one says otherwise."""
        if self._backend is backend:
            self._backend = None
