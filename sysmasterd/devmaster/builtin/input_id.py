"""input_id builtin: classify input devices from their capability bitmasks (v252 heuristics).

Event nodes whose X/Y axes report a resolution also get their size in mm
(ID_INPUT_WIDTH_MM/HEIGHT_MM) from EVIOCGABS.
"""

import os

from sysmasterd.devmaster.builtin.evdev_ioctl import AbsInfo, get_abs
from sysmasterd.devmaster.builtin.registry import add_property
from sysmasterd.devmaster.device import Device
from sysmasterd.devmaster.event import UdevEvent

EV_KEY, EV_REL, EV_SW = 1, 2, 5
ABS_X, ABS_Y, ABS_Z, ABS_RX, ABS_PRESSURE = 0, 1, 2, 3, 0x18
ABS_MT_SLOT, ABS_MT_POSITION_X, ABS_MT_POSITION_Y = 0x2F, 0x35, 0x36
REL_X, REL_Y, REL_HWHEEL, REL_WHEEL = 0, 1, 6, 8
BTN_MISC, BTN_0, BTN_MOUSE, BTN_JOYSTICK, BTN_DIGI = 0x100, 0x100, 0x110, 0x120, 0x140
BTN_TOOL_PEN, BTN_TOOL_FINGER, BTN_TOUCH, BTN_STYLUS = 0x140, 0x145, 0x14A, 0x14B
BTN_DPAD_UP, BTN_DPAD_RIGHT, BTN_TRIGGER_HAPPY1, BTN_TRIGGER_HAPPY40 = 0x220, 0x223, 0x2C0, 0x2E7
PROP_DIRECT, PROP_POINTING_STICK, PROP_ACCELEROMETER = 1, 5, 6
BUS_I2C = 0x18
_WELL_KNOWN_KEYS = (29, 58, 69, 110, 113, 140, 144, 155, 164, 224)
_HIGH_KEY_BLOCKS = ((0x160, 0x220), (0x230, 0x2C0))


def parse_bitmask(text: str | None) -> int:
    """A sysfs capability mask: hex longs, most significant first."""
    value = 0
    for word in (text or "").split():
        value = (value << 64) | int(word, 16)
    return value


def _bit(mask: int, n: int) -> bool:
    return bool(mask >> n & 1)


def _pointers(ev: int, abs_: int, key: int, rel: int, props: int, bustype: int) -> dict[str, bool]:
    has_keys = _bit(ev, EV_KEY)
    has_abs = _bit(abs_, ABS_X) and _bit(abs_, ABS_Y)
    accel = _bit(props, PROP_ACCELEROMETER) or (not has_keys and has_abs and _bit(abs_, ABS_Z))
    if accel:
        return {"ACCELEROMETER": True}
    stick = _bit(props, PROP_POINTING_STICK)
    stylus, pen = _bit(key, BTN_STYLUS), _bit(key, BTN_TOOL_PEN)
    finger_no_pen = _bit(key, BTN_TOOL_FINGER) and not pen
    mouse_button = any(_bit(key, b) for b in range(BTN_MOUSE, BTN_JOYSTICK))
    has_rel = _bit(ev, EV_REL) and _bit(rel, REL_X) and _bit(rel, REL_Y)
    has_mt = _bit(abs_, ABS_MT_POSITION_X) and _bit(abs_, ABS_MT_POSITION_Y)
    if has_mt and _bit(abs_, ABS_MT_SLOT) and _bit(abs_, ABS_MT_SLOT - 1):
        has_mt = False
    direct, touch = _bit(props, PROP_DIRECT), _bit(key, BTN_TOUCH)
    pad_buttons = _bit(key, BTN_0) and stylus and not pen
    buttons = 0
    if not _bit(key, BTN_JOYSTICK - 1):
        ranges = (range(BTN_JOYSTICK, BTN_DIGI), range(BTN_TRIGGER_HAPPY1, BTN_TRIGGER_HAPPY40 + 1),
                  range(BTN_DPAD_UP, BTN_DPAD_RIGHT + 1))
        buttons = sum(_bit(key, b) for r in ranges for b in r)
    axes = sum(_bit(abs_, a) for a in range(ABS_RX, ABS_PRESSURE))
    tablet = touchpad = abs_mouse = touchscreen = joystick = False
    if has_abs:
        if stylus or pen:
            tablet = True
        elif finger_no_pen and not direct:
            touchpad = True
        elif mouse_button:
            abs_mouse = True
        elif touch or direct:
            touchscreen = True
        elif buttons or axes:
            joystick = True
    elif buttons or axes:
        joystick = True
    if has_mt:
        if stylus or pen:
            tablet = True
        elif finger_no_pen and not direct:
            touchpad = True
        elif touch or direct:
            touchscreen = True
    mouse = not tablet and not touchpad and not joystick and mouse_button and (has_rel or not has_abs)
    if mouse and bustype == BUS_I2C:
        stick = True
    if joystick:
        known = sum(_bit(key, k) for k in _WELL_KNOWN_KEYS) if has_keys else 0
        if known >= 4 or buttons + axes < 2:
            joystick = False
    return {"POINTINGSTICK": stick, "MOUSE": mouse or abs_mouse, "TOUCHPAD": touchpad,
            "TOUCHSCREEN": touchscreen, "JOYSTICK": joystick, "TABLET": tablet,
            "TABLET_PAD": tablet and pad_buttons}


def _keys(ev: int, key: int) -> dict[str, bool]:
    if not _bit(ev, EV_KEY):
        return {}
    found = key & ((1 << BTN_MISC) - 1) != 0 or any(
        _bit(key, k) for start, end in _HIGH_KEY_BLOCKS for k in range(start, end))
    return {"KEY": found, "KEYBOARD": key & 0xFFFFFFFE == 0xFFFFFFFE}


def _input_device(dev: Device) -> Device | None:
    for cur in dev.ancestors():
        if cur.attr("capabilities/ev") is not None:
            return cur
        if cur is not dev and cur.subsystem != "input":
            return None
    return None


def size_mm(x: AbsInfo, y: AbsInfo) -> tuple[int, int] | None:
    """(width, height) in mm: the axes' resolution is in units per mm; none without a resolution."""
    if x.resolution <= 0 or y.resolution <= 0:
        return None
    # C integer division truncates toward zero
    return int((x.maximum - x.minimum) / x.resolution), int((y.maximum - y.minimum) / y.resolution)


def _read_size(devname: str) -> tuple[int, int] | None:
    try:
        fd = os.open(devname, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        return size_mm(get_abs(fd, ABS_X), get_abs(fd, ABS_Y))
    except OSError:
        return None
    finally:
        os.close(fd)


def _classify(event: UdevEvent, pdev: Device, test: bool) -> None:
    add_property(event, "ID_INPUT", "1", test)
    ev = parse_bitmask(pdev.attr("capabilities/ev"))
    abs_ = parse_bitmask(pdev.attr("capabilities/abs"))
    rel = parse_bitmask(pdev.attr("capabilities/rel"))
    key = parse_bitmask(pdev.attr("capabilities/key"))
    props = parse_bitmask(pdev.attr("properties"))
    try:
        bustype = int(pdev.attr("id/bustype") or "0", 16)
    except ValueError:
        bustype = 0
    pointer = _pointers(ev, abs_, key, rel, props, bustype)
    for name, on in pointer.items():
        if on:
            add_property(event, f"ID_INPUT_{name}", "1", test)
    keys = _keys(ev, key)
    for name, on in keys.items():
        if on:
            add_property(event, f"ID_INPUT_{name}", "1", test)
    if not any(pointer.values()) and not any(keys.values()) and _bit(ev, EV_REL) and (
            _bit(rel, REL_WHEEL) or _bit(rel, REL_HWHEEL)):
        add_property(event, "ID_INPUT_KEY", "1", test)
    if _bit(ev, EV_SW):
        add_property(event, "ID_INPUT_SWITCH", "1", test)


def run(event: UdevEvent, argv: list[str], test: bool) -> int:
    dev = event.dev
    pdev = _input_device(dev)
    if pdev is not None:
        _classify(event, pdev, test)
    if dev.devname and dev.sysname.startswith("event") and (size := _read_size(dev.devname)) is not None:
        add_property(event, "ID_INPUT_WIDTH_MM", str(size[0]), test)
        add_property(event, "ID_INPUT_HEIGHT_MM", str(size[1]), test)
    return 0
