"""org.freedesktop.systemd1.Target: no members of its own; the unit answers on it as systemd's do."""

from __future__ import annotations

from sysmasterd.bus.iface import Interface


class TargetInterface(Interface):
    name = "org.freedesktop.systemd1.Target"
