"""usb_id builtin: ID_VENDOR/ID_MODEL/ID_SERIAL... and their ID_USB_* twins, as udev 252 exports them.

Not implemented: for USB mass storage, udev takes vendor/model/revision/type from the SCSI
device (ID_INSTANCE too); here they always come from the USB descriptors.
"""

import errno
import os

from sysmasterd.devmaster.builtin.registry import add_property
from sysmasterd.devmaster.device import Device
from sysmasterd.devmaster.event import UdevEvent
from sysmasterd.devmaster.rules.format import replace_chars, replace_whitespace

_IFTYPES = {0x01: "audio", 0x03: "hid", 0x06: "media", 0x07: "printer", 0x08: "storage", 0x09: "hub",
            0x0E: "video"}
_PLAIN = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#+-.:=@_")
USB_DT_INTERFACE = 4


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


def run(event: UdevEvent, argv: list[str], test: bool) -> int:
    dev = event.dev
    type_str = ifnum = driver = None
    if dev.devtype == "usb_device":
        usb: Device | None = dev
    else:
        iface = dev if dev.devtype == "usb_interface" else dev.parent_with("usb", "usb_interface")
        if iface is None:
            return -errno.ENODEV
        ifnum, driver = iface.attr("bInterfaceNumber"), iface.attr("driver")
        try:
            if_class = int(iface.attr("bInterfaceClass") or "", 16)
        except ValueError:
            return -errno.EINVAL
        type_str = _IFTYPES.get(if_class, "generic")
        usb = iface.parent_with("usb", "usb_device")
    if usb is None:
        return -errno.ENODEV
    vendor_id, product_id = usb.attr("idVendor"), usb.attr("idProduct")
    if vendor_id is None or product_id is None:
        return -errno.ENODEV
    vendor = usb.attr("manufacturer") or vendor_id
    model = usb.attr("product") or product_id
    revision = _safe(usb.attr("bcdDevice") or "")
    raw_serial = usb.attr("serial")
    serial_short = ""
    if raw_serial is not None and all(0x20 <= ord(c) <= 0x7F and c != "," for c in raw_serial):
        serial_short = _safe(raw_serial)
    serial = f"{_safe(vendor)}_{_safe(model)}" + (f"_{serial_short}" if serial_short else "")
    values = [("MODEL", _safe(model)), ("MODEL_ENC", encode_devnode_name(model)), ("MODEL_ID", product_id),
              ("SERIAL", serial), ("SERIAL_SHORT", serial_short), ("VENDOR", _safe(vendor)),
              ("VENDOR_ENC", encode_devnode_name(vendor)), ("VENDOR_ID", vendor_id), ("REVISION", revision),
              ("TYPE", type_str or "")]
    if "ID_BUS" not in dev.properties:
        add_property(event, "ID_BUS", "usb", test)
        for key, value in values:
            if value or key == "REVISION":
                add_property(event, f"ID_{key}", value, test)
    for key, value in values:
        if value or key == "REVISION":
            add_property(event, f"ID_USB_{key}", value, test)
    for key, extra in (("INTERFACES", packed_interfaces(usb)), ("INTERFACE_NUM", ifnum), ("DRIVER", driver)):
        if extra:
            add_property(event, f"ID_USB_{key}", extra, test)
    return 0
