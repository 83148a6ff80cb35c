"""The process tree under `CGroup:` in status: GetUnitProcesses()' processes arranged by the
cgroups they run in, below the unit's (or the manager's) cgroup, as systemctl's
unit_show_processes() draws it."""

from __future__ import annotations

import os
import sys

from sysmasterd.cli.sctl_format import paint

TYPE_CHECKING = False  # mypy knows this name; typing itself costs more to import than sctl may spend
if TYPE_CHECKING:
    from typing import Any


class _Group:
    __slots__ = ("children", "pids")

    def __init__(self) -> None:
        self.pids: dict[int, str] = {}
        self.children: set[str] = set()


def _parent(path: str) -> str:
    return path.rpartition("/")[0] or "/"


def _groups(processes: list[list[Any]]) -> dict[str, _Group]:
    """Each cgroup named by a process, and every cgroup above it up to the root."""
    groups: dict[str, _Group] = {"/": _Group()}
    for path, pid, cmdline in processes:
        path = path or "/"
        child = path
        while child not in groups:
            groups[child] = _Group()
            groups.setdefault(_parent(child), _Group()).children.add(child)
            child = _parent(child)
        groups[path].pids[pid] = cmdline
    return groups


def _ellipsized(text: str, width: int) -> str:
    return text if width <= 0 or len(text) <= width else text[: width - 1] + "…"


def _dump(groups: dict[str, _Group], path: str, prefix: str, columns: int, out: list[str]) -> None:
    group = groups.get(path or "/")
    if group is None:
        return
    pids = sorted(group.pids)
    width = len(str(pids[-1])) if pids else 0
    for i, pid in enumerate(pids):
        text = group.pids[pid]
        if columns:
            text = _ellipsized(text, max(columns - (2 + width + 1), 20))
        glyph = "├─" if i + 1 < len(pids) or group.children else "└─"
        out.append(prefix + glyph + paint(f"{pid:>{width}} {text}", "grey"))
    children = sorted(group.children)
    columns = max(columns - 2, 20) if columns else 0
    for i, child in enumerate(children):
        more = i + 1 < len(children)
        out.append(prefix + ("├─" if more else "└─") + child.rpartition("/")[2])
        _dump(groups, child, prefix + ("│ " if more else "  "), columns, out)


def process_tree(processes: list[list[Any]], cgroup: str, prefix: str, full: bool) -> list[str]:
    """The lines under `CGroup: <cgroup>`; cmdlines are cut to the terminal's width unless --full
    or the output is not a terminal (systemctl's OUTPUT_FULL_WIDTH)."""
    columns = 0
    if not full and sys.stdout.isatty():
        try:
            columns = int(os.environ.get("COLUMNS", "")) or os.get_terminal_size().columns
        except (ValueError, OSError):
            columns = 80
        columns = max(columns - len(prefix), 0)
    out: list[str] = []
    _dump(_groups(processes), cgroup, prefix, columns, out)
    return out
