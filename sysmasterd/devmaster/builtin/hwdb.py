"""hwdb builtin: properties from the hardware database for the device's modalias."""

import errno
import logging

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
    import argparse  # here, not at the top: every test-builtin loads this module for its init()

    p = argparse.ArgumentParser(prog="hwdb", add_help=False, exit_on_error=False)
    p.add_argument("-f", "--filter")
    p.add_argument("-d", "--device")
    p.add_argument("-s", "--subsystem")
    p.add_argument("-p", "--lookup-prefix")
    p.add_argument("modalias", nargs="?")
    try:
        args, _ = p.parse_known_args(argv[1:])
    except argparse.ArgumentError:
        return -errno.EINVAL
    if args.modalias:
        found = lookup(event, args.lookup_prefix, args.modalias, args.filter, test)
    else:
        src = event.dev
        if args.device:
            try:
                src = Device.from_device_id(args.device)
            except (DeviceNotFound, ValueError):
                return -errno.ENODEV
        found = search(event, src, args.subsystem, args.lookup_prefix, args.filter, test)
    if found == 0:
        log.debug("%s: No entry found from hwdb.", event.dev.sysname)
        return -errno.ENODATA
    return found if found < 0 else 0
