"""net_id builtin: predictable interface names, naming scheme v252.

Implemented: MAC (enx...), PCI onboard/path/slot (eno/enp/ens, with dev_port
and phys_port_name), USB suffixes, OUI lookup. Not implemented: SR-IOV
virtual functions, ARI, devicetree, ccw, vio, platform, netdevsim, xen, bcma.
"""

import errno
import os
import re

from sysmasterd.devmaster.builtin import hwdb
from sysmasterd.devmaster.builtin.registry import add_property
from sysmasterd.devmaster.device import Device
from sysmasterd.devmaster.event import UdevEvent

SCHEME = "v252"
_PREFIXES = {1: "en", 32: "ib", 256: "sl"}
_ONBOARD_MAX = 16 * 1024


def _int(text: str | None, base: int = 10) -> int | None:
    try:
        return int(text or "", base)
    except ValueError:
        return None


def _multifunction(pci: Device) -> bool:
    try:
        with open(os.path.join(pci.syspath, "config"), "rb") as f:
            config = f.read(15)
    except OSError:
        return False
    return len(config) >= 15 and bool(config[14] & 0x80)


def _port_suffix(dev: Device) -> str:
    phys = dev.attr("phys_port_name")
    if phys:
        return f"n{phys}"
    dev_port = _int(dev.attr("dev_port")) or 0
    return f"d{dev_port}" if dev_port > 0 else ""


def _onboard(dev: Device, pci: Device) -> tuple[str | None, str | None]:
    index = _int(pci.attr("acpi_index") or pci.attr("index"))
    name = None
    if index is not None and 0 < index <= _ONBOARD_MAX:
        name = f"o{index}" + _port_suffix(dev)
    return name, pci.attr("label")


def _slot_number(pci: Device) -> int | None:
    slots = "/sys/bus/pci/slots"
    try:
        entries = os.listdir(slots)
    except OSError:
        return None
    cur: Device | None = pci
    while cur is not None:
        for entry in sorted(entries):
            number = _int(entry)
            if number is None or number <= 0:
                continue
            try:
                with open(os.path.join(slots, entry, "address")) as f:
                    address = f.read().strip()
            except OSError:
                continue
            if cur.sysname.startswith(address):
                return number
        cur = cur.parent_with("pci")
    return None


def _pci_names(dev: Device, pci: Device) -> tuple[str | None, str | None]:
    m = re.fullmatch(r"([0-9a-f]+):([0-9a-f]+):([0-9a-f]+)\.(\d+)", pci.sysname)
    if not m:
        return None, None
    domain, bus, slot = (int(x, 16) for x in m.groups()[:3])
    func = int(m.group(4))
    func_part = f"f{func}" if func > 0 or _multifunction(pci) else ""
    suffix = _port_suffix(dev)
    path = (f"P{domain}" if domain else "") + f"p{bus}s{slot}" + func_part + suffix
    hotplug = _slot_number(pci)
    slot_name = (f"P{domain}" if domain else "") + f"s{hotplug}" + func_part + suffix if hotplug else None
    return path, slot_name


def _usb_suffix(dev: Device) -> str | None:
    usb = dev.parent_with("usb", "usb_interface")
    if usb is None:
        return None
    m = re.fullmatch(r"[^-]+-([^:]+):([^.]+)\.(.+)", usb.sysname)
    if not m:
        return None
    ports, config, interface = m.groups()
    out = "u" + ports.replace(".", "u")
    if config != "1":
        out += "c" + config
    if interface != "0":
        out += "i" + interface
    return out


def _skip_virtio(dev: Device | None) -> Device | None:
    while dev is not None and dev.subsystem == "virtio":
        dev = dev.parent
    return dev


def run(event: UdevEvent, argv: list[str], test: bool) -> int:
    dev = event.dev
    ifindex, iflink, iftype = _int(dev.attr("ifindex")), _int(dev.attr("iflink")), _int(dev.attr("type"))
    if ifindex is None or iflink is None or iftype is None:
        return -errno.ENOENT
    if ifindex != iflink or iftype not in _PREFIXES:
        return 0
    prefix = {"wlan": "wl", "wwan": "ww"}.get(dev.devtype or "", _PREFIXES[iftype])
    add_property(event, "ID_NET_NAMING_SCHEME", SCHEME, test)
    address = (dev.attr("address") or "").split(":")
    if iftype != 32 and len(address) == 6 and _int(dev.attr("addr_assign_type")) == 0:
        add_property(event, "ID_NET_NAME_MAC", f"{prefix}x" + "".join(address).lower(), test)
        if address[:3] != ["00", "00", "00"]:
            hwdb.lookup(event, None, "OUI:" + "".join(address).upper(), None, test)
    parent = _skip_virtio(dev.parent)
    if parent is None:
        return 0
    pci = parent if parent.subsystem == "pci" else dev.parent_with("pci")
    if pci is None:
        return 0
    path, slot = _pci_names(dev, pci)
    if parent.subsystem == "pci":
        onboard, label = _onboard(dev, pci)
        if onboard:
            add_property(event, "ID_NET_NAME_ONBOARD", prefix + onboard, test)
        if label:
            add_property(event, "ID_NET_LABEL_ONBOARD", prefix + label, test)
        if path:
            add_property(event, "ID_NET_NAME_PATH", prefix + path, test)
        if slot:
            add_property(event, "ID_NET_NAME_SLOT", prefix + slot, test)
        return 0
    usb = _usb_suffix(dev)
    if usb is not None:
        if path:
            add_property(event, "ID_NET_NAME_PATH", prefix + path + usb, test)
        if slot:
            add_property(event, "ID_NET_NAME_SLOT", prefix + slot + usb, test)
    return 0
