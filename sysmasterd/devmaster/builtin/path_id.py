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


def _scsi_default(dev: Device, parts: list[str]) -> Device:
    m = re.fullmatch(r"(\d+):(\d+):(\d+):(\d+)", dev.sysname)
    if not m:
        return dev
    host, bus, target, lun = (int(x) for x in m.groups())
    base = dev.syspath
    hostdir = base
    while hostdir != "/sys" and not re.fullmatch(r"host\d+", os.path.basename(hostdir)):
        hostdir = os.path.dirname(hostdir)
    if hostdir == "/sys":
        return dev
    parent_dir = os.path.dirname(hostdir)
    hosts = sorted(int(n[4:]) for n in os.listdir(parent_dir) if re.fullmatch(r"host\d+", n))
    basenum = hosts[0] if hosts else host
    parts.insert(0, f"scsi-{host - basenum}:{bus}:{target}:{lun}")
    return Device.from_syspath(hostdir) if os.path.exists(hostdir + "/uevent") else dev


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
        elif subsystem == "scsi" and cur.devtype == "scsi_device":
            transport = True
            if "/rport-" in cur.syspath or "/end_device-" in cur.syspath or "/session" in cur.syspath:
                return None  # fibre channel, SAS and iSCSI naming: not implemented
            if "/ata" in cur.syspath:
                ata = _scsi_ata(cur, parts)
                if ata is None:
                    break
                nxt, compat = ata[0], [ata[1]]
            else:
                nxt = _scsi_default(cur, parts)
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
        cur = nxt.parent if nxt is not None else None
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
