"""net_id builtin: predictable interface names, naming scheme v252.

Implemented: MAC (enx...), PCI onboard/path/slot (eno/enp/ens, with dev_port
and phys_port_name, ARI, s390 function ids, bridge slots), SR-IOV virtual
functions (the physical function's names + v<N>), devicetree aliases (end<N>),
USB suffixes, OUI lookup. Not implemented: ccw, vio, platform, netdevsim, xen,
bcma.
"""

import errno
import os
import re

from sysmasterd.devmaster import device
from sysmasterd.devmaster.builtin import hwdb
from sysmasterd.devmaster.builtin.registry import add_property
from sysmasterd.devmaster.device import Device, DeviceNotFound
from sysmasterd.devmaster.event import UdevEvent

SCHEME = "v252"
_PREFIXES = {1: "en", 32: "ib", 256: "sl"}
ARPHRD_INFINIBAND = 32
_ONBOARD_MAX = (1 << 16) - 1
DEVICETREE = "/proc/device-tree"


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


def _port_suffix(dev: Device, iftype: int) -> str:
    phys = dev.attr("phys_port_name")
    if phys:
        return f"n{phys}"
    dev_port = _int(dev.attr("dev_port")) or 0
    if dev_port == 0 and iftype == ARPHRD_INFINIBAND and dev.attr("dev_port") is not None:
        # older kernels put an IPoIB port number in dev_id instead
        dev_port = _int(dev.attr("dev_id")) or 0
    return f"d{dev_port}" if dev_port > 0 else ""


def _onboard(dev: Device, pci: Device) -> tuple[str | None, str | None]:
    """(o<index>[n<port>|d<port>], label); index 0 is valid and up to 16 bits (scheme v252)."""
    raw = pci.attr("acpi_index")
    if raw is None:
        raw = pci.attr("index")
    index = _int(raw)
    if index is None or not 0 <= index <= _ONBOARD_MAX:
        return None, None
    phys = dev.attr("phys_port_name")
    dev_port = _int(dev.attr("dev_port")) or 0
    name = f"o{index}" + (f"n{phys}" if phys else f"d{dev_port}" if dev_port > 0 else "")
    return name, pci.attr("label")


def _is_bridge(pci: Device) -> bool:
    modalias = pci.attr("modalias") or ""
    sub = modalias.rfind("s")
    return modalias.startswith("pci:") and sub >= 0 and modalias[sub + 1:sub + 2] == "c" and \
        modalias[sub + 2:sub + 4] == "04"


def _slot_number(pci: Device) -> tuple[int, bool] | None:
    """(hotplug slot, whether the domain still counts) of `pci` or its nearest PCI ancestor with one."""
    slots = os.path.join(device.SYSFS, "bus/pci/slots")
    try:
        entries = sorted(os.listdir(slots))
    except OSError:
        return None
    cur: Device | None = pci
    while cur is not None:
        raw_function_id = cur.attr("function_id")
        if raw_function_id is not None:
            # s390: the slot is named after the function id, one slot per function, no domain
            function_id = _int(raw_function_id) or 0
            if 0 < function_id <= 0xFFFFFFFF and os.path.exists(os.path.join(slots, f"{function_id:08x}")):
                return function_id, False
            return None
        for entry in entries:
            number = _int(entry)
            if number is None or number <= 0:
                continue
            try:
                with open(os.path.join(slots, entry, "address")) as f:
                    address = f.read().strip()
            except OSError:
                continue
            if cur.sysname.startswith(address):
                # a bridge's slot would be claimed by everything behind it: only a multifunction
                # device gets it
                if _is_bridge(cur) and not _multifunction(pci):
                    return None
                return number, True
        cur = cur.parent_with("pci")
    return None


def _pci_names(dev: Device, pci: Device, iftype: int) -> tuple[str | None, str | None]:
    m = re.fullmatch(r"([0-9a-f]+):([0-9a-f]+):([0-9a-f]+)\.(\d+)", pci.sysname)
    if not m:
        return None, None
    domain, bus, slot = (int(x, 16) for x in m.groups()[:3])
    func = int(m.group(4))
    if pci.attr("ari_enabled") == "1":
        # ARI: slot and function together are an 8-bit function number
        func += slot * 8
    func_part = f"f{func}" if func > 0 or _multifunction(pci) else ""
    suffix = _port_suffix(dev, iftype)
    path = (f"P{domain}" if domain else "") + f"p{bus}s{slot}" + func_part + suffix
    found = _slot_number(pci)
    slot_name = None
    if found is not None:
        hotplug, with_domain = found
        slot_name = (f"P{domain}" if domain and with_domain else "") + f"s{hotplug}" + func_part + suffix
    return path, slot_name


def _virtfn_suffix(pci: Device) -> tuple[Device, str] | None:
    """An SR-IOV virtual function: its physical function and "v<N>" (its virtfn<N> link there)."""
    physfn = os.path.join(pci.syspath, "physfn")
    if not os.path.islink(physfn):
        return None
    try:
        phys = Device.from_syspath(physfn)
        links = os.listdir(phys.syspath)
    except (DeviceNotFound, OSError):
        return None
    for name in links:
        number = name.removeprefix("virtfn")
        if name.startswith("virtfn") and number.isdigit() and \
                os.path.realpath(os.path.join(phys.syspath, name)) == pci.syspath:
            return phys, f"v{number}"
    return None


def _devicetree_alias(dev: Device) -> str | None:
    """d<N> from the devicetree's ethernet<N> alias naming the parent's of_node."""
    parent = dev.parent
    of_node = os.path.join(parent.syspath, "of_node") if parent is not None else ""
    if parent is None or not os.path.exists(of_node):
        return None
    base = os.path.realpath(DEVICETREE)
    node = os.path.realpath(of_node)
    if not node.startswith(base + "/"):
        return None
    node_path = node[len(base):]
    aliases = os.path.join(base, "aliases")
    try:
        names = sorted(os.listdir(aliases))
    except OSError:
        return None
    for alias in names:
        if not alias.startswith("ethernet"):
            continue
        try:
            with open(os.path.join(aliases, alias), "rb") as f:
                target = f.read().split(b"\0", 1)[0].decode(errors="replace")
        except OSError:
            continue
        if os.path.normpath(target) != os.path.normpath(node_path):
            continue
        index = alias.removeprefix("ethernet")
        if index and not index.isdigit():
            return None
        number = int(index or "0")
        conflict = "ethernet0" if not index else "ethernet"
        if number == 0 and os.path.exists(os.path.join(aliases, conflict)):
            return None
        return f"d{number}"
    return None


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
    if prefix == "en":
        onboard_dt = _devicetree_alias(dev)
        if onboard_dt:
            add_property(event, "ID_NET_NAME_ONBOARD", prefix + onboard_dt, test)
    parent = _skip_virtio(dev.parent)
    if parent is None:
        return 0
    pci = parent if parent.subsystem == "pci" else dev.parent_with("pci")
    if pci is None:
        return 0
    virtfn = _virtfn_suffix(pci)
    names_from, vf = (virtfn[0], virtfn[1]) if virtfn else (pci, "")
    path, slot = _pci_names(dev, names_from, iftype)
    path, slot = (path + vf if path else None), (slot + vf if slot else None)
    if parent.subsystem == "pci":
        onboard, label = _onboard(dev, names_from)
        if onboard:
            add_property(event, "ID_NET_NAME_ONBOARD", prefix + onboard + vf, test)
        if label and not virtfn:
            # scheme v252: the label is used as it is (NAMING_LABEL_NOPREFIX)
            add_property(event, "ID_NET_LABEL_ONBOARD", label, test)
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
