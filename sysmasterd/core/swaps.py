"""The kernel's table of active swap areas, /proc/swaps, parsed (pure) and read.

Its changes are flagged as POLLPRI on an open /proc/swaps as on mountinfo, so the manager watches it
with mountinfo.MountinfoWatch given this path (systemd's swap_dispatch_io)."""

from __future__ import annotations

from dataclasses import dataclass

from sysmasterd.core.mountinfo import unescape

PROC_SWAPS = "/proc/swaps"


@dataclass(frozen=True)
class SwapEntry:
    what: str  # the device node or file, as swapon was given it
    priority: int


def parse(text: str) -> list[SwapEntry]:
    """Entries after the header line; a line that does not parse is skipped (systemd warns)."""
    entries = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 5:
            continue
        try:
            priority = int(fields[4])
        except ValueError:
            continue
        entries.append(SwapEntry(unescape(fields[0]), priority))
    return entries


def read(path: str = PROC_SWAPS) -> list[SwapEntry]:
    with open(path, encoding="latin-1") as f:  # escapes are decoded per field (unescape)
        return parse(f.read())
