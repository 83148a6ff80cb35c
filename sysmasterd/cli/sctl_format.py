"""Presentation helpers shared by sctl's verbs: timestamps and spans as systemd prints them,
sizes, colours (only on a tty, and never when SYSTEMD_COLORS=0), and column tables."""

from __future__ import annotations

import os
import sys
import time

UINT64_MAX = (1 << 64) - 1


_COLORS_ON: list[bool] = []  # decided once, before a pager takes stdout


def use_colors() -> bool:
    if not _COLORS_ON:
        env = os.environ.get("SYSTEMD_COLORS")
        _COLORS_ON.append(env.lower() not in ("0", "no", "false", "") if env is not None
                          else sys.stdout.isatty() and os.environ.get("TERM", "dumb") != "dumb")
    return _COLORS_ON[0]


_COLORS = {"red": "\x1b[0;1;31m", "green": "\x1b[0;1;32m", "bold": "\x1b[0;1;39m", "grey": "\x1b[0;38;5;245m",
           "blue": "\x1b[0;1;34m", "yellow": "\x1b[0;1;38;5;185m"}


def paint(text: str, color: str) -> str:
    return f"{_COLORS[color]}{text}\x1b[0m" if use_colors() else text


# unit_active_state_to_glyph()
STATE_GLYPHS = {"active": "●", "reloading": "↻", "inactive": "○", "failed": "×", "activating": "●",
                "deactivating": "●", "maintenance": "○"}


def dot(active: str) -> str:
    """The state glyph before a unit's name in status and list-dependencies."""
    if active == "failed":
        return paint("×", "red")
    if active in ("active", "reloading"):
        return paint("●", "green")
    if active in ("activating", "deactivating"):
        return paint("●", "bold")
    return "○"


def format_span(usec: int, accuracy: int = 1) -> str:
    # compat.values drags in compat.model: pay for it only when a span is printed.
    from sysmasterd.timespan import format_timespan

    return format_timespan(usec, accuracy)


TIMESTAMP_STYLES = ("pretty", "us", "utc", "us+utc", "unix")
timestamp_style = "pretty"  # --timestamp=


def format_timestamp(usec: int) -> str:
    """A timestamp in the --timestamp= style: "Mon 2026-12-07 04:30:00 UTC", with microseconds
    (us), in UTC (utc), both, or seconds since the epoch (unix: "@1796617800")."""
    if usec in (0, UINT64_MAX):
        return "n/a"
    if timestamp_style == "unix":
        return f"@{usec // 1_000_000}"
    utc = "utc" in timestamp_style
    tm = (time.gmtime if utc else time.localtime)(usec // 1_000_000)
    text = time.strftime("%a %Y-%m-%d %H:%M:%S", tm)
    if timestamp_style.startswith("us"):
        text += f".{usec % 1_000_000:06d}"
    return f"{text} UTC" if utc else f"{text} {time.strftime('%Z', tm)}"


_HOUR = 3_600_000_000
_DAY = 24 * _HOUR
_MONTH = 2_629_800_000_000
_YEAR = 31_557_600_000_000


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def format_relative(usec: int, now_usec: int | None = None) -> str:
    """'5min ago' / '3h left', with systemd's thresholds for how many components to show."""
    if usec in (0, UINT64_MAX):
        return "n/a"
    now = now_usec if now_usec is not None else time.time_ns() // 1000
    d = abs(now - usec)
    suffix = " ago" if now > usec else " left"
    if d >= _YEAR:
        text = f"{_plural(d // _YEAR, 'year')} {_plural((d % _YEAR) // _MONTH, 'month')}"
    elif d >= _MONTH:
        text = f"{_plural(d // _MONTH, 'month')} {_plural((d % _MONTH) // _DAY, 'day')}"
    elif d >= 7 * _DAY:
        text = f"{_plural(d // (7 * _DAY), 'week')} {_plural((d % (7 * _DAY)) // _DAY, 'day')}"
    elif d >= 2 * _DAY:
        text = f"{d // _DAY} days"
    elif d >= 25 * _HOUR:
        text = f"1 day {(d - _DAY) // _HOUR}h"
    elif d >= 6 * _HOUR:
        text = f"{d // _HOUR}h"
    elif d >= _HOUR:
        text = f"{d // _HOUR}h {(d % _HOUR) // 60_000_000}min"
    elif d >= 300_000_000:
        text = f"{d // 60_000_000}min"
    elif d >= 60_000_000:
        text = f"{d // 60_000_000}min {(d % 60_000_000) // 1_000_000}s"
    elif d >= 1_000_000:
        text = f"{d // 1_000_000}s"
    elif d >= 1_000:
        text = f"{d // 1_000}ms"
    elif d > 0:
        text = f"{d}us"
    else:
        return "now"
    return text + suffix


def next_elapse(monotonic: int, realtime: int) -> int:
    """calc_next_elapse(): a timer's next elapse in realtime, the monotonic one converted."""
    if monotonic in (0, UINT64_MAX):
        return realtime
    converted = time.time_ns() // 1000 + monotonic - time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    return min(converted, realtime) if realtime not in (0, UINT64_MAX) else converted


def format_bytes(n: int) -> str:
    value = float(n)
    for suffix in ("B", "K", "M", "G", "T", "P"):
        if value < 1024 or suffix == "P":
            return f"{value:.1f}{suffix}" if suffix != "B" else f"{int(value)}B"
        value /= 1024
    return f"{n}B"


def table(rows: list[list[str]], header: list[str] | None, indent_marks: list[str] | None = None) -> list[str]:
    """Left-aligned columns separated by one space; the last column is not padded."""
    all_rows = ([header] if header else []) + rows
    if not all_rows:
        return []
    widths = [max(len(r[i]) for r in all_rows) for i in range(len(all_rows[0]))]
    lines = []
    for index, row in enumerate(all_rows):
        cells = [c.ljust(widths[i]) if i < len(row) - 1 else c for i, c in enumerate(row)]
        mark = ""
        if indent_marks is not None:
            mark = "  " if header and index == 0 else indent_marks[index - (1 if header else 0)]
        lines.append((mark + " ".join(cells)).rstrip())
    return lines
