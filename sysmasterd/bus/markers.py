"""The Markers= unit setting of systemd 252 (dbus-unit.c's bus_unit_set_live_property): runtime state
only, never written to a drop-in. "foo" replaces the set, "+foo"/"-foo" add or remove one marker."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sysmasterd.bus import errors

if TYPE_CHECKING:
    from sysmasterd.core.unit import Unit

KNOWN = ("needs-reload", "needs-restart")
PROPERTY = "Markers"

Change = Callable[["Unit"], None]


def parse(words: list[str]) -> Change:
    """The change the words ask for, or the BadUnitSetting error systemd answers."""
    add: set[str] = set()
    remove: set[str] = set()
    relative = absolute = False
    for word in words:
        if word[:1] in ("+", "-"):
            relative = True
            marker, on = word[1:], word[0] == "+"
        else:
            absolute = True
            marker, on = word, True
        if marker not in KNOWN:
            raise errors.bus_error(errors.BAD_UNIT_SETTING, f'Unknown marker "{marker}".')
        (add if on else remove).add(marker)
        (remove if on else add).discard(marker)
    if relative and absolute:
        raise errors.bus_error(errors.BAD_UNIT_SETTING, "Bad marker syntax.")

    def change(u: Unit) -> None:
        u.markers = set(add) if absolute else (u.markers - remove) | add

    return change


def split(props: list[Any]) -> tuple[list[Change], list[Any]]:
    """Markers= assignments parsed, apart from the settings that go to drop-ins."""
    changes: list[Change] = []
    rest: list[Any] = []
    for name, variant in props:
        if name != PROPERTY:
            rest.append((name, variant))
        elif variant.signature != "as":
            raise errors.invalid_args(f"Property {name} expects type 'as', got '{variant.signature}'.")
        else:
            changes.append(parse(variant.value))
    return changes, rest
