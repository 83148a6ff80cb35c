"""net_id builtin: predictable interface names, naming schemes v238 ... v252.

MAC (enx...), PCI onboard/path/slot (eno/enp/ens, with dev_port and
phys_port_name, ARI, s390 function ids, bridge slots), SR-IOV virtual functions
(the physical function's names + v<N>), devicetree aliases (end<N>), USB and
BCMA suffixes, s390 CCW, IBM VIO, ACPI platform, netdevsim and Xen names, OUI
lookup. The naming scheme (net.naming-scheme=, NET_NAMING_SCHEME) decides which
of these features apply, as in udev.
"""

import errno
import os
import re

from sysmasterd.devmaster import device
from sysmasterd.devmaster.builtin import hwdb, naming_scheme, net_id_buses
from sysmasterd.devmaster.builtin.naming_scheme import Naming, NamingScheme
from sysmasterd.devmaster.builtin.registry import add_property
from sysmasterd.devmaster.device import Device, DeviceNotFound
from sysmasterd.devmaster.event import UdevEvent

_PREFIXES = {1: "en", 32: "ib", 256: "sl"}
ARPHRD_INFINIBAND = 32
_ONBOARD_MAX_14BIT = (1 << 14) - 1
_ONBOARD_MAX_16BIT = (1 << 16) - 1
# udev builds names in ALTIFNAMSIZ buffers and drops those that do not fit
_NAME_MAX = 127
DEVICETREE = "/proc/device-tree"


def _int(text: str | None) -> int | None:
    try:
        return int(text or "")
    except ValueError:
        return None


def _c_uint(text: str | None) -> int | None:
    """An unsigned number the way udev's safe_atou* read sysfs: 0x, 0o, 0b prefixes, and 0 for octal."""
    digits = (text or "").lstrip(" \t\n").removeprefix("+")
    base = 10
    for prefix, radix in (("0x", 16), ("0o", 8), ("0b", 2)):
        if digits[:2].lower() == prefix:
            digits, base = digits[2:], radix
            break
    else:
        if len(digits) > 1 and digits.startswith("0"):
            base = 8
    if not digits or not all(c in "0123456789abcdef"[:base] for c in digits.lower()):
        return None
    return int(digits, base)


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


def _onboard(dev: Device, pci: Device, scheme: NamingScheme) -> tuple[str | None, str | None]:
    """(o<index>[n<port>|d<port>], label)."""
    raw = pci.attr("acpi_index")
    if raw is None:
        raw = pci.attr("index")
    index = _c_uint(raw)
    lowest = 0 if scheme.has(Naming.ZERO_ACPI_INDEX) else 1
    highest = _ONBOARD_MAX_16BIT if scheme.has(Naming.INDEX_16BIT) else _ONBOARD_MAX_14BIT
    if index is None or not lowest <= index <= highest:
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


def _slot_number(pci: Device, scheme: NamingScheme) -> tuple[int, bool] | None:
    """(hotplug slot, whether the domain still counts) of `pci` or its nearest PCI ancestor with one."""
    slots = os.path.join(device.SYSFS, "bus/pci/slots")
    try:
        entries = sorted(os.listdir(slots))
    except OSError:
        return None
    cur: Device | None = pci
    while cur is not None:
        raw_function_id = cur.attr("function_id") if scheme.has(Naming.SLOT_FUNCTION_ID) else None
        if raw_function_id is not None:
            # s390: the slot is named after the function id, one slot per function, no domain
            function_id = _c_uint(raw_function_id) or 0
            if 0 < function_id <= 0xFFFFFFFF and os.path.exists(os.path.join(slots, f"{function_id:08x}")):
                return function_id, False
            return None
        for entry in entries:
            number = _c_uint(entry)
            if number is None or number <= 0 or number > 0xFFFFFFFF:
                continue
            try:
                with open(os.path.join(slots, entry, "address")) as f:
                    address = f.read().strip()
            except OSError:
                continue
            if cur.sysname.startswith(address):
                # a bridge's slot would be claimed by everything behind it
                if scheme.has(Naming.BRIDGE_NO_SLOT) and _is_bridge(cur) and not (
                        scheme.has(Naming.BRIDGE_MULTIFUNCTION_SLOT) and _multifunction(pci)):
                    return None
                return number, True
        cur = cur.parent_with("pci")
    return None


def _pci_names(dev: Device, pci: Device, iftype: int, scheme: NamingScheme) -> tuple[str | None, str | None]:
    m = re.fullmatch(r"([0-9a-f]+):([0-9a-f]+):([0-9a-f]+)\.(\d+)", pci.sysname)
    if not m:
        return None, None
    domain, bus, slot = (int(x, 16) for x in m.groups()[:3])
    func = int(m.group(4))
    if scheme.has(Naming.NPAR_ARI) and pci.attr("ari_enabled") == "1":
        # ARI: slot and function together are an 8-bit function number
        func += slot * 8
    func_part = f"f{func}" if func > 0 or _multifunction(pci) else ""
    suffix = _port_suffix(dev, iftype)
    path = (f"P{domain}" if domain else "") + f"p{bus}s{slot}" + func_part + suffix
    found = _slot_number(pci, scheme)
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
        number = _c_uint(index) if index else 0
        if number is None:
            return None
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


def _emit(event: UdevEvent, key: str, name: str, test: bool) -> None:
    if len(name) <= _NAME_MAX:
        add_property(event, key, name, test)


def _bus_names(event: UdevEvent, prefix: str, scheme: NamingScheme, test: bool) -> bool:
    """Names of interfaces on a non-PCI bus (udev's order); True when the device was one of them."""
    dev = event.dev
    kinds = (
        ("ID_NET_NAME_PATH", net_id_buses.ccw(dev)),
        ("ID_NET_NAME_SLOT", net_id_buses.vio(dev)),
        ("ID_NET_NAME_PATH", net_id_buses.platform(dev)),
        ("ID_NET_NAME_PATH", net_id_buses.netdevsim(dev, dev.attr("phys_port_name"))
         if scheme.has(Naming.NETDEVSIM) else None),
        ("ID_NET_NAME_SLOT", net_id_buses.xen(dev) if scheme.has(Naming.XEN_VIF) else None),
    )
    for key, name in kinds:
        if name is not None:
            _emit(event, key, prefix + name, test)
            return True
    return False


def run(event: UdevEvent, argv: list[str], test: bool) -> int:
    dev = event.dev
    # like udev, the index comes from the uevent (IFINDEX), the rest from attributes
    ifindex, iflink, iftype = dev.ifindex, _int(dev.attr("iflink")), _int(dev.attr("type"))
    if ifindex is None or ifindex <= 0 or iflink is None or iftype is None:
        return -errno.ENOENT
    scheme = naming_scheme.current()
    if ifindex != iflink or iftype not in _PREFIXES:
        return 0
    if iftype == ARPHRD_INFINIBAND and not scheme.has(Naming.INFINIBAND):
        return 0
    prefix = {"wlan": "wl", "wwan": "ww"}.get(dev.devtype or "", _PREFIXES[iftype])
    add_property(event, "ID_NET_NAMING_SCHEME", scheme.name, test)
    address = (dev.attr("address") or "").split(":")
    # an InfiniBand address is 20 bytes, its stable part too long for a name
    if iftype != ARPHRD_INFINIBAND and len(address) == 6 and _int(dev.attr("addr_assign_type")) == 0:
        add_property(event, "ID_NET_NAME_MAC", f"{prefix}x" + "".join(address).lower(), test)
        if address[:3] != ["00", "00", "00"]:
            hwdb.lookup(event, None, "OUI:" + "".join(address).upper(), None, test)
    if prefix == "en" and scheme.has(Naming.DEVICETREE_ALIASES):
        onboard_dt = _devicetree_alias(dev)
        if onboard_dt:
            _emit(event, "ID_NET_NAME_ONBOARD", prefix + onboard_dt, test)
    if _bus_names(event, prefix, scheme, test):
        return 0
    parent = net_id_buses.skip_virtio(dev.parent)
    if parent is None:
        return 0
    pci = parent if parent.subsystem == "pci" else dev.parent_with("pci")
    if pci is None:
        return 0
    virtfn = _virtfn_suffix(pci) if scheme.has(Naming.SR_IOV_V) else None
    names_from, vf = (virtfn[0], virtfn[1]) if virtfn else (pci, "")
    path, slot = _pci_names(dev, names_from, iftype, scheme)
    path, slot = (path + vf if path else None), (slot + vf if slot else None)
    if parent.subsystem == "pci":
        onboard, label = _onboard(dev, names_from, scheme)
        if onboard:
            _emit(event, "ID_NET_NAME_ONBOARD", prefix + onboard + vf, test)
        if label and not virtfn:
            _emit(event, "ID_NET_LABEL_ONBOARD", ("" if scheme.has(Naming.LABEL_NOPREFIX) else prefix) + label,
                  test)
        if path:
            _emit(event, "ID_NET_NAME_PATH", prefix + path, test)
        if slot:
            _emit(event, "ID_NET_NAME_SLOT", prefix + slot, test)
        return 0
    # a USB interface, else a Broadcom bus core, behind a PCI device
    suffix = _usb_suffix(dev)
    if suffix is None:
        suffix = net_id_buses.bcma(dev)
    if suffix is not None:
        if path:
            _emit(event, "ID_NET_NAME_PATH", prefix + path + suffix, test)
        if slot:
            _emit(event, "ID_NET_NAME_SLOT", prefix + slot + suffix, test)
    return 0
