"""hwdb builtin: properties from the hardware database for the device's modalias."""

import errno
import logging
import os

from sysmasterd.devmaster.builtin.getopt import getopt_long
from sysmasterd.devmaster.builtin.hwdb_trie import HwdbError, find_hwdb, open_hwdb
from sysmasterd.devmaster.builtin.registry import add_property
from sysmasterd.devmaster.device import Device, DeviceNotFound
from sysmasterd.devmaster.event import UdevEvent
from udev_rules_translator.glob import fnmatch

log = logging.getLogger("devmaster")


def init() -> None:
    try:
        open_hwdb(find_hwdb(trace=True))
    except (OSError, HwdbError) as e:
        log.warning("Failed to open hwdb: %s", e)


def lookup(event: UdevEvent, prefix: str | None, modalias: str, filt: str | None, test: bool) -> int:
    try:
        hwdb = open_hwdb()
    except (OSError, HwdbError):
        hwdb = None
    if hwdb is None:
        return -errno.ENOENT
    found = 0
    for key, value in hwdb.lookup((prefix or "") + modalias).items():
        if filt and not fnmatch(filt, key):
            continue
        add_property(event, key, value, test)
        found += 1
    return found


def _modalias_usb(dev: Device) -> str | None:
    try:
        vendor = int(dev.attr("idVendor") or "", 16)
        product = int(dev.attr("idProduct") or "", 16)
    except ValueError:
        return None
    return f"usb:v{vendor:04X}p{product:04X}:{dev.attr('product') or ''}"


def search(event: UdevEvent, src: Device, subsystem: str | None, prefix: str | None, filt: str | None,
           test: bool) -> int:
    result = 0
    for dev in src.ancestors():
        dsub = dev.subsystem
        if dsub is None or (subsystem and dsub != subsystem):
            continue
        modalias = dev.properties.get("MODALIAS")
        last = False
        if dsub == "usb" and dev.devtype == "usb_device":
            modalias = modalias or _modalias_usb(dev)
            last = True
        if not modalias:
            continue
        result = lookup(event, prefix, modalias, filt, test)
        if result > 0 or last:
            break
    return result


def run(event: UdevEvent, argv: list[str], test: bool) -> int:
    opts, operands = getopt_long(argv[0], argv[1:], "f:d:s:p:",
                                 {"filter": "f", "device": "d", "subsystem": "s", "lookup-prefix": "p"})
    given = dict(opts)
    filt, prefix = given.get("f"), given.get("p")
    name = event.dev.sysname
    if operands:
        found = lookup(event, prefix, operands[0], filt, test)
    else:
        src = event.dev
        if "d" in given:
            try:
                src = Device.from_device_id(given["d"])
            except (DeviceNotFound, ValueError) as e:
                code = errno.ENODEV if isinstance(e, DeviceNotFound) and given["d"][:1] in "bcn+" else errno.EINVAL
                log.debug("%s: Failed to create sd_device object '%s': %s", name, given["d"], os.strerror(code))
                return -code
        found = search(event, src, given.get("s"), prefix, filt, test)
    if found == 0:
        log.debug("%s: No entry found from hwdb.", name)
        return -errno.ENODATA
    return found if found < 0 else 0
