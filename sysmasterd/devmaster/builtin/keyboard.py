"""keyboard builtin (udev 252): hwdb's KEYBOARD_KEY_/EVDEV_ABS_/POINTINGSTICK_ properties applied to an input node.

`plan_keyboard` is pure (properties -> what to do, with messages for what it
refuses); `run` carries it out with EVIOCSKEYCODE/EVIOCSABS on the node and
sysfs writes on the serio parent (force_release, sensitivity).
"""

import errno
import logging
import os
from dataclasses import dataclass, field

from sysmasterd.devmaster.builtin.evdev_ioctl import AbsInfo, event_types, get_abs, set_abs, set_keycode
from sysmasterd.devmaster.builtin.keyboard_keys import HEADER, key_codes
from sysmasterd.devmaster.device import Device
from sysmasterd.devmaster.event import UdevEvent

log = logging.getLogger("devmaster")
EV_ABS = 3
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def _strtol(text: str, base: int) -> int | None:
    """C's strtol()/strtoul() on the whole text (base 0: 0x hex, leading 0 octal); None if anything is left."""
    s = text.lstrip(" \t\n\r\v\f")
    sign = -1 if s[:1] == "-" else 1
    s = s[1:] if s[:1] in "+-" else s
    if base in (0, 16) and s[:2].lower() == "0x" and s[2:3] and s[2].lower() in _DIGITS[:16]:
        base, s = 16, s[2:]
    elif base == 0:
        base = 8 if s.startswith("0") else 10
    if not s or any(c not in _DIGITS[:base] for c in s.lower()):
        return None
    return sign * int(s, base)


def _safe_parse(text: str, base: int) -> int | None:
    """systemd's safe_ato*(): strtol plus Python-style 0b/0o prefixes when the base is automatic."""
    s = text.lstrip(" \t\n\r")
    if base == 0 and s[:2].lower() in ("0b", "0o"):
        base, s = (2 if s[1] in "bB" else 8), s[2:]
    return _strtol(s, base)


def parse_c_unsigned(text: str, base: int = 0) -> int | None:
    """An unsigned int as safe_atou_full() reads it: negative or too large is an error."""
    value = _safe_parse(text, base)
    return value if value is not None and 0 <= value <= 0xFFFFFFFF else None


def parse_abs_override(value: str, current: tuple[int, int, int, int, int]) -> tuple[int, int, int, int, int] | None:
    """EVDEV_ABS_xx=<min>:<max>:<res>:<fuzz>:<flat>; an empty field keeps the device's value.

    Fields after the fifth are ignored, as udev does.
    """
    out = list(current)
    for i, text in enumerate(value.split(":")[:5]):
        if not text.strip(" \t\n\r\v\f"):
            continue
        number = _strtol(text, 0)
        if number is None:
            return None
        out[i] = (number + (1 << 31)) % (1 << 32) - (1 << 31)  # stored in an int32 field
    return out[0], out[1], out[2], out[3], out[4]


@dataclass
class KeyboardPlan:
    keymap: list[tuple[int, int]] = field(default_factory=list)  # (scan code, key code)
    force_release: list[int] = field(default_factory=list)
    abs_overrides: list[tuple[int, str]] = field(default_factory=list)
    sensitivity: str | None = None
    errors: list[str] = field(default_factory=list)


def _key_code(name: str, table: dict[str, int] | None) -> int | str:
    """A key code, or why there is none."""
    if table is not None and name in table:
        return table[name]
    number = parse_c_unsigned(name)
    if number is not None:
        return number
    if table is None:
        return f"key name '{name}' cannot be resolved: {HEADER} is missing (install linux-libc-dev), skipping"
    return f"Failed to parse key identifier '{name}', skipping"


def plan_keyboard(properties: dict[str, str], table: dict[str, int] | None) -> KeyboardPlan:
    plan = KeyboardPlan()
    for key, value in properties.items():
        if key.startswith("KEYBOARD_KEY_"):
            scancode = parse_c_unsigned(key[13:], 16)
            if scancode is None:
                plan.errors.append(f"Failed to parse scan code from \"{key}\", ignoring")
                continue
            name = value
            if name.startswith("!"):
                name = name[1:]
                # udev's list holds 1023 codes; past that the last slot keeps the latest one
                del plan.force_release[1022:]
                plan.force_release.append(scancode)
                if not name:
                    continue
            code = _key_code(name, table)
            if isinstance(code, str):
                plan.errors.append(code)
            else:
                plan.keymap.append((scancode, code))
        elif key.startswith("EVDEV_ABS_"):
            evcode = parse_c_unsigned(key[10:], 16)
            if evcode is None:
                plan.errors.append(f"Failed to parse EV_ABS code from \"{key}\", ignoring")
            else:
                plan.abs_overrides.append((evcode, value))
        elif key == "POINTINGSTICK_SENSITIVITY":
            plan.sensitivity = value
    return plan


def _write_attr(dev: Device, name: str, value: str) -> bool:
    try:
        with open(os.path.join(dev.syspath, name), "w") as f:
            f.write(value)
    except OSError as e:
        log.error("%s: Failed to write '%s' attribute: %s", dev.sysname, name, e.strerror)
        return False
    return True


def install_force_release(dev: Device, scancodes: list[int]) -> None:
    """Append the scan codes to the atkbd (serio parent) force_release list."""
    serio = dev.parent_with("serio")
    current = serio.attr("force_release") if serio is not None else None
    if serio is None or current is None:
        log.error("%s: Failed to get %s", dev.sysname,
                  "serio parent" if serio is None else "force-release attribute")
        return
    _write_attr(serio, "force_release", current + "".join(f",{code}" for code in scancodes))


def set_sensitivity(dev: Device, value: str) -> None:
    serio = dev.parent_with("serio")
    number = _safe_parse(value, 0)
    if serio is None:
        log.error("%s: Failed to get serio parent", dev.sysname)
    elif number is None or not 0 <= number <= 255:
        log.error("%s: POINTINGSTICK_SENSITIVITY '%s' is not a number in [0..255]", dev.sysname, value)
    else:
        _write_attr(serio, "sensitivity", str(number))


def _override_abs(dev: Device, fd: int, evcode: int, value: str) -> None:
    try:
        info = get_abs(fd, evcode)
    except OSError as e:
        log.error("%s: Failed to call EVIOCGABS: %s", dev.sysname, e.strerror)
        return
    new = parse_abs_override(value, (info.minimum, info.maximum, info.resolution, info.fuzz, info.flat))
    if new is None:
        log.error("%s: Failed to parse EV_ABS override '%s'", dev.sysname, value)
        return
    minimum, maximum, resolution, fuzz, flat = new
    log.debug("%s: keyboard: %x overridden with %d/%d/%d/%d/%d", dev.sysname, evcode, *new)
    try:
        set_abs(fd, evcode, AbsInfo(info.value, minimum, maximum, fuzz, flat, resolution))
    except OSError as e:
        log.error("%s: Failed to call EVIOCSABS: %s", dev.sysname, e.strerror)


def run(event: UdevEvent, argv: list[str], test: bool) -> int:
    dev = event.dev
    if not dev.devname:
        log.error("%s: Failed to get device name: No such file or directory", dev.sysname)
        return -errno.ENOENT
    plan = plan_keyboard(dev.properties, key_codes())
    for message in plan.errors:
        log.error("%s: %s", dev.sysname, message)
    if plan.keymap or plan.abs_overrides:
        try:
            fd = os.open(dev.devname, os.O_RDWR | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY)
        except OSError as e:
            log.error("%s: Failed to open device '%s': %s", dev.sysname, dev.devname, e.strerror)
            return -(e.errno or errno.EIO)
        try:
            for scancode, keycode in plan.keymap:
                log.debug("%s: keyboard: mapping scan code %d (%#x) to key code %d (%#x)",
                          dev.sysname, scancode, scancode, keycode, keycode)
                try:
                    set_keycode(fd, scancode, keycode)
                except OSError as e:
                    log.error("%s: Failed to call EVIOCSKEYCODE with scan code %#x, and key code %d: %s",
                              dev.sysname, scancode, keycode, e.strerror)
            if plan.abs_overrides:
                try:
                    has_abs = bool(event_types(fd) >> EV_ABS & 1)
                except OSError as e:
                    log.error("%s: Failed to call EVIOCGBIT: %s", dev.sysname, e.strerror)
                    return -(e.errno or errno.EIO)
                if not has_abs:
                    log.warning("%s: EVDEV_ABS override set but no EV_ABS present on device", dev.sysname)
                for evcode, value in plan.abs_overrides if has_abs else ():
                    _override_abs(dev, fd, evcode, value)
        finally:
            os.close(fd)
    if plan.sensitivity is not None:
        set_sensitivity(dev, plan.sensitivity)
    if plan.force_release:
        install_force_release(dev, plan.force_release)
    return 0
