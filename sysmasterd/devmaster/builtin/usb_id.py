"""usb_id builtin: ID_VENDOR/ID_MODEL/ID_SERIAL... and their ID_USB_* twins, as udev 252 exports them.

For USB mass storage speaking SCSI or ATAPI, vendor, model, revision and type come from the SCSI
device's inquiry data in sysfs, with ID_INSTANCE (target:lun), as udev does.
"""

import errno
import logging
import os
from dataclasses import dataclass

from sysmasterd.devmaster.builtin.registry import add_property
from sysmasterd.devmaster.device import Device
from sysmasterd.devmaster.event import UdevEvent
from sysmasterd.devmaster.rules.format import replace_chars, replace_whitespace

log = logging.getLogger("devmaster")
_IFTYPES = {0x01: "audio", 0x03: "hid", 0x06: "media", 0x07: "printer", 0x08: "storage", 0x09: "hub",
            0x0E: "video"}
_PLAIN = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#+-.:=@_")
USB_DT_INTERFACE = 4
_MASS_STORAGE = {1: "rbc", 2: "atapi", 3: "tape", 4: "floppy", 6: "scsi"}
_SCSI_TYPES = {0: "disk", 0xE: "disk", 1: "tape", 4: "optical", 7: "optical", 0xF: "optical", 5: "cd"}


def encode_devnode_name(text: str) -> str:
    """Non-ASCII kept, unsafe bytes (and backslash) as \\xHH."""
    return "".join(c if ord(c) > 127 or c in _PLAIN else "".join(f"\\x{b:02x}" for b in c.encode())
                   for c in text)


def _safe(text: str) -> str:
    return replace_chars(replace_whitespace(text), None)


def packed_interfaces(usb: Device) -> str:
    """":ccsspp:..." for every distinct interface class/subclass/protocol in the descriptors."""
    try:
        with open(os.path.join(usb.syspath, "descriptors"), "rb") as f:
            data = f.read(18 + 65535)
    except OSError:
        return ""
    found: list[str] = []
    pos = 0
    while pos + 9 < len(data):
        length, kind = data[pos], data[pos + 1]
        if length < 3 or length > len(data) - 9:
            break
        if kind == USB_DT_INTERFACE:
            entry = f"{data[pos + 5]:02x}{data[pos + 6]:02x}{data[pos + 7]:02x}"
            if entry not in found:
                found.append(entry)
        pos += length
    return ":" + ":".join(found) + ":" if found else ""


def _raw_attr(dev: Device, name: str) -> str | None:
    """A sysfs attribute with only the newline stripped, as sd-device reads it: the padding of
    SCSI inquiry strings shows in the *_ENC properties."""
    try:
        with open(os.path.join(dev.syspath, name), "rb") as f:
            return f.read(4096).decode(errors="replace").rstrip("\n")
    except OSError:
        return None


def _int(text: str | None, base: int = 10) -> int | None:
    try:
        return int(text or "", base)
    except ValueError:
        return None


@dataclass
class _Ids:
    vendor: str | None = None
    vendor_enc: str | None = None
    model: str | None = None
    model_enc: str | None = None
    revision: str | None = None
    type: str = ""
    instance: str = ""


def _scsi_inquiry(dev: Device, ids: _Ids) -> None:
    """Vendor, model, type and revision of the SCSI device under a mass-storage interface;
    whatever cannot be read falls back to the USB descriptors, field by field as udev does."""
    scsi = dev.parent_with("scsi", "scsi_device")
    hctl = scsi.sysname.split(":") if scsi is not None else []
    if scsi is None or len(hctl) != 4 or not all(x.lstrip("-").isdigit() for x in hctl):
        return
    for field_name in ("vendor", "model"):
        value = _raw_attr(scsi, field_name)
        if value is None:
            return
        setattr(ids, field_name, _safe(value))
        setattr(ids, field_name + "_enc", encode_devnode_name(value))
    scsi_type = scsi.attr("type")
    if scsi_type is None:
        return
    number = _int(scsi_type)
    ids.type = _SCSI_TYPES.get(number, "generic") if number is not None and number >= 0 else "generic"
    rev = _raw_attr(scsi, "rev")
    if rev is None:
        return
    ids.revision = _safe(rev)
    ids.instance = f"{int(hctl[2])}:{int(hctl[3])}"


def run(event: UdevEvent, argv: list[str], test: bool) -> int:
    dev = event.dev
    ids = _Ids()
    ifnum = driver = None
    if dev.devtype == "usb_device":
        usb: Device | None = dev
    else:
        iface = dev.parent_with("usb", "usb_interface")
        if iface is None:
            log.debug("%s: Failed to access usb_interface: No such file or directory", dev.sysname)
            return -errno.ENOENT
        ifnum, driver = iface.attr("bInterfaceNumber"), iface.attr("driver")
        if_class = _int(iface.attr("bInterfaceClass"), 16)
        if if_class is None:
            return -errno.EINVAL
        protocol = 0
        if if_class == 8:
            subclass = iface.attr("bInterfaceSubClass")
            if subclass is not None:
                protocol = _int(subclass) or 0
                ids.type = _MASS_STORAGE.get(protocol, "generic")
        else:
            ids.type = _IFTYPES.get(if_class, "generic")
        usb = iface.parent_with("usb", "usb_device")
        if usb is not None and protocol in (2, 6):
            _scsi_inquiry(dev, ids)
    if usb is None:
        return -errno.ENODEV
    vendor_id, product_id = usb.attr("idVendor"), usb.attr("idProduct")
    if vendor_id is None or product_id is None:
        return -errno.ENODEV
    if not ids.vendor:
        usb_vendor = _raw_attr(usb, "manufacturer") or vendor_id
        ids.vendor, ids.vendor_enc = _safe(usb_vendor), encode_devnode_name(usb_vendor)
    if not ids.model:
        usb_model = _raw_attr(usb, "product") or product_id
        ids.model, ids.model_enc = _safe(usb_model), encode_devnode_name(usb_model)
    if not ids.revision:
        ids.revision = _safe(_raw_attr(usb, "bcdDevice") or "")
    raw_serial = usb.attr("serial")
    serial_short = ""
    if raw_serial is not None and all(0x20 <= ord(c) <= 0x7F and c != "," for c in raw_serial):
        serial_short = _safe(raw_serial)
    serial = f"{ids.vendor}_{ids.model}" + (f"_{serial_short}" if serial_short else "") + \
        (f"-{ids.instance}" if ids.instance else "")
    values = [("MODEL", ids.model), ("MODEL_ENC", ids.model_enc or ""), ("MODEL_ID", product_id),
              ("SERIAL", serial), ("SERIAL_SHORT", serial_short), ("VENDOR", ids.vendor),
              ("VENDOR_ENC", ids.vendor_enc or ""), ("VENDOR_ID", vendor_id), ("REVISION", ids.revision),
              ("TYPE", ids.type), ("INSTANCE", ids.instance)]
    if "ID_BUS" not in dev.properties:
        add_property(event, "ID_BUS", "usb", test)
        for key, value in values:
            if value or key not in ("SERIAL_SHORT", "TYPE", "INSTANCE"):
                add_property(event, f"ID_{key}", value, test)
    for key, value in values:
        if value or key not in ("SERIAL_SHORT", "TYPE", "INSTANCE"):
            add_property(event, f"ID_USB_{key}", value, test)
    for key, extra in (("INTERFACES", packed_interfaces(usb)), ("INTERFACE_NUM", ifnum), ("DRIVER", driver)):
        if extra:
            add_property(event, f"ID_USB_{key}", extra, test)
    return 0
