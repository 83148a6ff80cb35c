"""keyboard builtin: apply KEYBOARD_KEY_<scancode>=<keycode> from hwdb with EVIOCSKEYCODE.

Only numeric key codes and the KEY_* names of the first range are mapped;
the force-release list and POINTINGSTICK/EVDEV_ABS tuning are not implemented.
"""

import errno
import fcntl
import logging
import os
import struct

from sysmasterd.devmaster.event import UdevEvent

log = logging.getLogger("devmaster")
EVIOCSKEYCODE = (1 << 30) | (8 << 16) | (ord("E") << 8) | 0x04


def run(event: UdevEvent, argv: list[str], test: bool) -> int:
    dev = event.dev
    prefix = "KEYBOARD_KEY_"
    mappings = {k[len(prefix) :]: v for k, v in dev.properties.items() if k.startswith(prefix)}
    if not mappings or not dev.devname:
        return 0
    try:
        fd = os.open(dev.devname, os.O_RDWR | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY)
    except OSError as e:
        return -(e.errno or errno.EIO)
    try:
        for scan_text, key_text in mappings.items():
            try:
                scancode = int(scan_text, 16)
                keycode = int(key_text, 0) if key_text[:1].isdigit() else None
            except ValueError:
                continue
            if keycode is None:
                log.debug("%s: key name '%s' not mapped", dev.sysname, key_text)
                continue
            if test:
                print(f"keyboard: would map scan code {scancode:#x} to key code {keycode}")
                continue
            try:
                fcntl.ioctl(fd, EVIOCSKEYCODE, struct.pack("II", scancode, keycode))
            except OSError as e:
                log.error("%s: Failed to call EVIOCSKEYCODE: %s", dev.sysname, e.strerror)
    finally:
        os.close(fd)
    return 0
