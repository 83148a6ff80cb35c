"""Mechanical mapping from property names to compat.model config fields.

compat.model names its fields as snake_case of systemd's directive names, so `TimeoutStartUSec`
reads `timeout_start_usec` of whichever config section has it. Values are converted to the wire
type here; None (not configured) reads as systemd's default where it has one, else as zero.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Callable, Sequence
from typing import Any

from compat.model import USEC_PER_SEC, DirectorySetting

Section = Callable[[Any], Any]  # target -> config section dataclass (or None)

_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")

# What systemd reports for settings left unset (its manager defaults).
UNSET_DEFAULTS: dict[str, Any] = {
    "TimeoutStartUSec": 90 * USEC_PER_SEC,
    "TimeoutStopUSec": 90 * USEC_PER_SEC,
    "TimeoutAbortUSec": 90 * USEC_PER_SEC,
    "StartLimitIntervalUSec": 10 * USEC_PER_SEC,
    "StartLimitBurst": 5,
    "FailureActionExitStatus": -1,
    "SuccessActionExitStatus": -1,
    "StandardOutput": "journal",
    "StandardError": "inherit",
}


def snake(prop: str) -> str:
    return _BOUNDARY.sub("_", prop.replace("USec", "Usec").replace("NSec", "Nsec")).lower()


def _wire(value: Any, signature: str) -> Any:
    if isinstance(value, enum.Enum):
        value = value.value
    if signature in "sog" and isinstance(value, str):
        return value
    if signature == "b" and isinstance(value, bool):
        return value
    if signature in ("t", "u", "i", "x", "q", "y") and isinstance(value, int) and not isinstance(value, bool):
        return value
    if signature == "ay" and isinstance(value, bytes):
        return value
    if signature == "as" and isinstance(value, (list, tuple)):
        words = [_word(v) for v in value]
        if all(isinstance(w, str) for w in words):
            return words
    raise TypeError(f"cannot present {type(value).__name__} as '{signature}'")


def _word(item: Any) -> str | None:
    """One element of an 'as' list: compat keeps some list settings as small records (each
    RuntimeDirectory= entry, for one) whose wire form is their path."""
    if isinstance(item, str):
        return item
    if isinstance(item, DirectorySetting):
        return item.path
    return None


def config_getter(
    prop: str, signature: str, sections: Sequence[tuple[type, Section]], zero: Any
) -> Callable[[Any], Any] | None:
    """A getter reading `prop` from the first section class that has the field, or None."""
    field_name = snake(prop)
    for cls, section in sections:
        if any(f.name == field_name for f in dataclasses.fields(cls)):
            default = UNSET_DEFAULTS.get(prop, zero)

            def get(target: Any, section: Section = section, default: Any = default) -> Any:
                owner = section(target)
                value = getattr(owner, field_name, None) if owner is not None else None
                if value is None:
                    return default
                return _wire(value, signature)

            return get
    return None
