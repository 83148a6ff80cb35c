"""Key names for KEYBOARD_KEY_ values, derived from the kernel's input-event-codes.h at run time.

udev builds its table from the same header when it is compiled: every KEY_* and
BTN_* macro whose value is a number or another KEY_/BTN_ macro, except the
range markers (KEY_MAX, KEY_MIN_INTERESTING, BTN_MISC, BTN_MOUSE, ...). KEY_*
entries answer to their lowercase name without the prefix ("mute") and with it
("key_mute"); BTN_* entries to their lowercase name ("btn_left").
"""

import re
from functools import cache

HEADER = "/usr/include/linux/input-event-codes.h"
_DEFINE = re.compile(r"^#define[ \t]+((?:KEY|BTN)_\w+)[ \t]+([0-9BK]\w*)", re.MULTILINE)
# markers that alias the first code of a range rather than naming a key
_MARKERS = frozenset(("KEY_MAX", "KEY_MIN_INTERESTING", "BTN_MISC", "BTN_MOUSE", "BTN_JOYSTICK",
                      "BTN_GAMEPAD", "BTN_DIGI", "BTN_WHEEL", "BTN_TRIGGER_HAPPY"))


def parse_key_codes(text: str) -> dict[str, int]:
    """input-event-codes.h text -> {key name as hwdb writes it: kernel key code}."""
    raw = dict(_DEFINE.findall(text))

    def resolve(name: str, depth: int = 0) -> int | None:
        value = raw.get(name)
        if value is None or depth > 8:
            return None
        if value[0].isdigit():
            try:
                return int(value, 16) if value.lower().startswith("0x") else int(value, 10)
            except ValueError:
                return None
        return resolve(value, depth + 1)

    table: dict[str, int] = {}
    for name in raw:
        if name in _MARKERS or (code := resolve(name)) is None:
            continue
        table[name.lower()] = code
        if name.startswith("KEY_"):
            table[name[4:].lower()] = code
    return table


@cache
def key_codes(header: str = HEADER) -> dict[str, int] | None:
    """The table from the installed kernel header, or None when it is not installed."""
    try:
        with open(header) as f:
            return parse_key_codes(f.read())
    except OSError:
        return None
