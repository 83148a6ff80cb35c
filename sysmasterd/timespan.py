"""systemd's time span units and format_timespan(): shared by the unit-file layer and devmaster,
which ships without it (the device manager's package has this module through the common one)."""

from __future__ import annotations

USEC_INFINITY = (1 << 64) - 1
USEC_PER_SEC = 1_000_000
USEC_PER_MSEC = 1000
USEC_PER_MINUTE = 60 * USEC_PER_SEC
USEC_PER_HOUR = 60 * USEC_PER_MINUTE
USEC_PER_DAY = 24 * USEC_PER_HOUR
USEC_PER_WEEK = 7 * USEC_PER_DAY
USEC_PER_MONTH = 2_629_800 * USEC_PER_SEC
USEC_PER_YEAR = 31_557_600 * USEC_PER_SEC

_FORMAT_UNITS: tuple[tuple[str, int], ...] = (
    ("y", USEC_PER_YEAR), ("month", USEC_PER_MONTH), ("w", USEC_PER_WEEK), ("d", USEC_PER_DAY),
    ("h", USEC_PER_HOUR), ("min", USEC_PER_MINUTE), ("s", USEC_PER_SEC), ("ms", USEC_PER_MSEC), ("us", 1),
)  # fmt: skip


def format_timespan(usec: int, accuracy: int = 1) -> str:
    """systemd's format_timespan(): `90000000` -> `1min 30s`, sub-minute remainders in dot notation."""
    if usec >= USEC_INFINITY:
        return "infinity"
    if usec <= 0:
        return "0"
    accuracy = max(accuracy, 1)
    parts: list[str] = []
    t = usec
    for suffix, unit in _FORMAT_UNITS:
        if t <= 0 or (t < accuracy and parts):
            break
        if t < unit:
            continue
        whole, rest = divmod(t, unit)
        if t < USEC_PER_MINUTE and rest > 0:
            digits = len(str(unit)) - 1 - (len(str(accuracy)) - 1)
            if digits > 0:
                rest //= 10 ** (len(str(accuracy)) - 1)
                parts.append(f"{whole}.{rest:0{digits}d}{suffix}")
                break
        parts.append(f"{whole}{suffix}")
        t = rest
    return " ".join(parts)
