"""org.freedesktop.systemd1.Device over a unit whose type implementation is units.device.Device."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sysmasterd.bus.iface import Interface, prop
from sysmasterd.units.device import device_of

if TYPE_CHECKING:
    from sysmasterd.core.unit import Unit


class DeviceInterface(Interface):
    name = "org.freedesktop.systemd1.Device"

    @prop("SysFSPath")
    def sysfs_path(self, u: Unit) -> str:
        d = device_of(u)
        return d.sysfs if d is not None else ""
