"""net_id name parts for interfaces not on PCI: s390 CCW, IBM VIO, ACPI platform, netdevsim, Xen, BCMA.

Each function returns the part after the type prefix ("c600", "v2", ...), or
None when the device is not of that kind or its path does not fit udev 252's
pattern. Parsing follows udev's scanf patterns, so names only come out when the
kernel's device path has exactly the shape udev expects (including "eth<N>").
"""

import re

from sysmasterd.devmaster.device import Device

_HEX4 = "[0-9a-fA-F]{1,4}+"  # possessive: scanf's %4x never gives digits back
_VIO = re.compile(rf"/devices/vio/({_HEX4})({_HEX4})/net/eth\d")
_PLATFORM4 = re.compile(rf"/devices/platform/([A-Z0-9]{{4}})({_HEX4}):([0-9a-fA-F]{{1,2}}+)/net/eth\d")
_PLATFORM3 = re.compile(rf"/devices/platform/([A-Z]{{3}})({_HEX4}):([0-9a-fA-F]{{1,2}}+)/net/eth\d")
# where a 4-character ACPI vendor id would put the ':' (3-character PNP ids put it one earlier)
_PLATFORM_COLON = len("/devices/platform/vvvvPPPP")
_XEN = re.compile(r"/devices/vif-(0|[1-9][0-9]*)/")
_UINT_MAX = 0xFFFFFFFF


def skip_virtio(dev: Device | None) -> Device | None:
    # one virtio bus at most sits between a network device and its real bus
    while dev is not None and dev.subsystem == "virtio":
        dev = dev.parent
    return dev


def ccw(dev: Device) -> str | None:
    """c<bus id>: the (grouped) CCW device's bus id without leading zeros and dots."""
    cdev = skip_virtio(dev.parent)
    if cdev is None or cdev.subsystem not in ("ccw", "ccwgroup"):
        return None
    bus_id = cdev.sysname
    if len(bus_id) not in (8, 9):
        return None
    stripped = bus_id.lstrip(".0")
    return "c" + (stripped or bus_id[-1])


def vio(dev: Device) -> str | None:
    """v<slot>: the slot id in a VIO device's name (the bus part is ignored: there is one bus)."""
    parent = dev.parent
    if parent is None or parent.subsystem != "vio":
        return None
    m = _VIO.match(dev.devpath)
    return f"v{int(m.group(2), 16)}" if m else None


def platform(dev: Device) -> str | None:
    """a<vendor><model>i<instance> from an ACPI-enumerated platform device such as HISI00C2:00."""
    parent = dev.parent
    if parent is None or parent.subsystem != "platform":
        return None
    path = dev.devpath
    if len(path) < _PLATFORM_COLON + 1:
        return None
    pattern = _PLATFORM4 if path[_PLATFORM_COLON] == ":" else _PLATFORM3
    m = pattern.match(path)
    if not m:
        return None
    vendor, model, instance = m.group(1).lower(), int(m.group(2), 16), int(m.group(3), 16)
    return f"a{vendor}{model:x}i{instance}"


def netdevsim(dev: Device, phys_port_name: str | None) -> str | None:
    """i<netdevsim id>n<port name>: only ports (with a phys_port_name) get one."""
    if not phys_port_name:
        return None
    sim = dev.parent_with("netdevsim")
    m = re.match(r"netdevsim(\d+)", sim.sysname) if sim is not None else None
    if not m or int(m.group(1)) > _UINT_MAX:
        return None
    return f"i{int(m.group(1))}n{phys_port_name}"


def xen(dev: Device) -> str | None:
    """X<N> for a Xen netfront under vif-<N>; backends ("xen-backend") keep their own names."""
    parent = dev.parent
    if parent is None or parent.subsystem != "xen":
        return None
    m = _XEN.match(dev.devpath)
    if not m or int(m.group(1)) > _UINT_MAX:
        return None
    return f"X{m.group(1)}"


def bcma(dev: Device) -> str | None:
    """b<core> of a Broadcom bus core, "" for the common core 0; None when not on BCMA."""
    core_dev = dev.parent_with("bcma")
    m = re.match(r"bcma\d+:(\d+)", core_dev.sysname) if core_dev is not None else None
    if not m:
        return None
    core = int(m.group(1))
    return f"b{core}" if core > 0 else ""
