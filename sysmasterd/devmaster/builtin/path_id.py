"""path_id builtin: ID_PATH/ID_PATH_TAG from the device's position on its buses (v252)."""

import errno
import os
import re

from sysmasterd.devmaster.builtin.registry import add_property
from sysmasterd.devmaster.device import Device, DeviceNotFound
from sysmasterd.devmaster.event import UdevEvent

_SIMPLE = {"pci": (False, True), "platform": (True, True), "acpi": (False, True), "xen": (False, True),
           "scm": (True, True), "ccw": (True, True), "ccwgroup": (True, True), "iucv": (True, True)}


def _skip(dev: Device, subsystem: str) -> Device:
    """The topmost consecutive ancestor of the same subsystem (udev's skip_subsystem)."""
    cur = dev
    while (up := cur.parent) is not None and up.subsystem == subsystem:
        cur = up
    return cur


def _lun(dev: Device) -> str:
    """format_lun_number(): peripheral addressing below 256, else the original 64-bit LUN layout."""
    lun = int(dev.sysnum or 0)
    return f"lun-{lun}" if lun < 256 else f"lun-0x{lun & 0xFFFF:04x}{(lun >> 16) & 0xFFFF:04x}00000000"


def _other(subsystem: str, sysname: str) -> Device | None:
    try:
        return Device.from_subsystem_sysname(subsystem, sysname)
    except DeviceNotFound:
        return None


def _scsi_default(dev: Device, parts: list[str]) -> Device | None:
    host_dev = dev.parent_with("scsi", "scsi_host")
    m = re.fullmatch(r"(\d+):(\d+):(\d+):(\d+)", dev.sysname)
    if host_dev is None or not m:
        return None
    host, bus, target, lun = (int(x) for x in m.groups())
    try:
        siblings = os.listdir(os.path.dirname(host_dev.syspath))
    except OSError:
        return None
    # udev rebases the global host number on the lowest host of the same parent
    hosts = [int(n[4:]) for n in siblings if n.startswith("host") and n[4:].isdigit()]
    if not hosts:
        return host_dev
    parts.insert(0, f"scsi-{host - min(hosts)}:{bus}:{target}:{lun}")
    return host_dev


def _scsi_fibre_channel(dev: Device, parts: list[str]) -> Device | None:
    target = dev.parent_with("scsi", "scsi_target")
    fc = _other("fc_transport", target.sysname) if target is not None else None
    port = fc.attr("port_name") if fc is not None else None
    if port is None:
        return None
    parts.insert(0, f"fc-{port}-{_lun(dev)}")
    return dev


def _scsi_sas(dev: Device, parts: list[str]) -> Device | None:
    target = dev.parent_with("scsi", "scsi_target")
    end_device = target.parent if target is not None else None
    sas = _other("sas_device", end_device.sysname) if end_device is not None else None
    port = end_device.parent if end_device is not None else None
    sas_port = _other("sas_port", port.sysname) if port is not None else None
    phys = sas_port.attr("num_phys") if sas_port is not None else None
    if sas is None or port is None or phys is None:
        return None
    if phys != "1":
        # a wide port: several phys, named by the end device's address
        address = sas.attr("sas_address")
        if address is None:
            return None
        parts.insert(0, f"sas-{address}-{_lun(dev)}")
        return dev
    phy = sas.attr("phy_identifier")
    expander = port.parent
    if phy is None or expander is None:
        return None
    expander_sas = _other("sas_device", expander.sysname)
    if expander_sas is None:
        parts.insert(0, f"sas-phy{phy}-{_lun(dev)}")
        return dev
    address = expander_sas.attr("sas_address")
    if address is None:
        return None
    parts.insert(0, f"sas-exp{address}-phy{phy}-{_lun(dev)}")
    return dev


def _scsi_iscsi(dev: Device, parts: list[str]) -> Device | None:
    session = dev.parent
    while session is not None and not session.sysname.startswith("session"):
        session = session.parent
    if session is None or session.sysnum is None:
        return None
    session_dev = _other("iscsi_session", session.sysname)
    conn = _other("iscsi_connection", f"connection{session.sysnum}:0")
    target = session_dev.attr("targetname") if session_dev is not None else None
    addr = conn.attr("persistent_address") if conn is not None else None
    port = conn.attr("persistent_port") if conn is not None else None
    if target is None or addr is None or port is None:
        return None
    parts.insert(0, f"ip-{addr}:{port}-iscsi-{target}-{_lun(dev)}")
    return dev


def _scsi_hyperv(dev: Device, parts: list[str], guid_len: int) -> Device | None:
    host_dev = dev.parent_with("scsi", "scsi_host")
    vmbus = host_dev.parent if host_dev is not None else None
    guid = vmbus.attr("device_id") if vmbus is not None else None
    if guid is None or len(guid) < guid_len or guid[0] != "{" or guid[guid_len - 1] != "}":
        return None
    parts.insert(0, f"vmbus-{guid[1:guid_len - 1].replace('-', '')}-{_lun(dev)}")
    return dev


def _scsi(dev: Device, parts: list[str]) -> tuple[Device | None, bool, str | None]:
    """handle_scsi(): (where to go on from, None to stop; whether the parent is supported; ATA compat)."""
    if dev.devtype != "scsi_device":
        return dev, False, None
    ieee1394 = dev.attr("ieee1394_id")
    if ieee1394 is not None:
        parts.insert(0, f"ieee1394-0x{ieee1394}")
        return _skip(dev, "scsi"), True, None
    path = dev.syspath
    if "/rport-" in path:
        return _scsi_fibre_channel(dev, parts), True, None
    if "/end_device-" in path:
        return _scsi_sas(dev, parts), True, None
    if "/session" in path:
        return _scsi_iscsi(dev, parts), True, None
    if "/ata" in path:
        ata = _scsi_ata(dev, parts)
        return (ata[0], False, ata[1]) if ata is not None else (None, False, None)
    if "/vmbus_" in path:
        return _scsi_hyperv(dev, parts, 37), False, None
    if "/VMBUS" in path:
        return _scsi_hyperv(dev, parts, 38), False, None
    return _scsi_default(dev, parts), False, None


def _scsi_tape(dev: Device, parts: list[str]) -> None:
    name = dev.sysname
    if parts:
        return
    if name.startswith("nst") and name[3:4] and name[3] in "lma":
        parts.insert(0, f"nst{name[3]}")
    elif name.startswith("st") and name[2:3] and name[2] in "lma":
        parts.insert(0, f"st{name[2]}")


def _usb(dev: Device, parts: list[str]) -> Device:
    if dev.devtype not in ("usb_interface", "usb_device"):
        return dev
    _, sep, port = dev.sysname.partition("-")
    if not sep:
        return dev
    parts.insert(0, f"usb-0:{port}")
    return _skip(dev, "usb")


def _scsi_ata(dev: Device, parts: list[str]) -> tuple[Device, str] | None:
    """"ata-<port>.<target>" (or ".<bus>.0" behind a port multiplier), plus the old "ata-<port>"."""
    m = re.fullmatch(r"(\d+):(\d+):(\d+):(\d+)", dev.sysname)
    host = dev.parent_with("scsi", "scsi_host")
    port_dev = host.parent if host is not None else None
    if not m or port_dev is None:
        return None
    try:
        port = Device.from_subsystem_sysname("ata_port", port_dev.sysname).attr("port_no")
    except DeviceNotFound:
        return None
    if port is None:
        return None
    bus, target = int(m.group(2)), int(m.group(3))
    parts.insert(0, f"ata-{port}.{bus}.0" if bus else f"ata-{port}.{target}")
    return dev, f"ata-{port}"


def compose(dev: Device) -> tuple[str, bool, bool, str | None] | None:
    """(ID_PATH, supported transport, supported parent, ID_PATH_ATA_COMPAT) or None."""
    parts: list[str] = []
    compat: list[str] | None = None
    transport = parent_ok = False
    cur: Device | None = dev
    while cur is not None:
        subsystem = cur.subsystem
        nxt: Device | None = cur
        if subsystem in _SIMPLE:
            parts.insert(0, f"{subsystem}-{cur.sysname}")
            if compat is not None:
                compat.insert(0, f"{subsystem}-{cur.sysname}")
            t, p = _SIMPLE[subsystem]
            transport, parent_ok = transport or t, parent_ok or p
            nxt = _skip(cur, subsystem)
        elif subsystem == "virtio":
            nxt = _skip(cur, "virtio")
            transport = True
        elif subsystem == "usb":
            nxt = _usb(cur, parts)
            transport = True
        elif subsystem == "scsi":
            transport = True
            nxt, supported, ata_compat = _scsi(cur, parts)
            parent_ok = parent_ok or supported
            if ata_compat is not None:
                compat = [ata_compat]
        elif subsystem == "scsi_tape":
            _scsi_tape(cur, parts)
        elif subsystem == "cciss":
            transport = True
            m = re.match(r"c(\d+)d(\d+)", cur.sysname)
            if m:
                parts.insert(0, f"cciss-disk{int(m.group(2))}")
            nxt = _skip(cur, "cciss") if m else None
        elif subsystem == "bcma":
            transport = True
            m = re.match(r"bcma\d+:(\d+)", cur.sysname)
            if m:
                parts.insert(0, f"bcma-{int(m.group(1))}")
            nxt = cur if m else None
        elif subsystem == "serio" and cur.sysnum:
            parts.insert(0, f"serio-{cur.sysnum}")
            nxt = _skip(cur, "serio")
        elif subsystem == "spi" and cur.sysnum:
            parts.insert(0, f"cs-{cur.sysnum}")
            nxt = _skip(cur, "spi")
        elif subsystem in ("nvme", "nvme-subsystem"):
            nsid = dev.attr("nsid")
            if nsid is not None and subsystem == "nvme":
                parts.insert(0, f"nvme-{nsid}")
                if compat is not None:
                    compat.insert(0, f"nvme-{nsid}")
                nxt = _skip(cur, "nvme")
                transport = parent_ok = True
        if nxt is None:
            break
        cur = nxt.parent
    if not parts:
        return None
    return "-".join(parts), transport, parent_ok, "-".join(compat) if compat else None


def path_tag(path: str) -> str:
    tag = re.sub(r"[^0-9A-Za-z-]+", "_", path)
    return tag.strip("_")


def run(event: UdevEvent, argv: list[str], test: bool) -> int:
    dev = event.dev
    found = compose(dev)
    if found is None:
        return -errno.ENOENT
    path, transport, parent_ok, compat = found
    if not parent_ok or (dev.subsystem == "block" and not transport):
        return -errno.ENOENT
    add_property(event, "ID_PATH", path, test)
    add_property(event, "ID_PATH_TAG", path_tag(path), test)
    if compat:
        add_property(event, "ID_PATH_ATA_COMPAT", compat, test)
    return 0
