"""Tables as systemd's format-table prints them: what list-units, list-unit-files, list-jobs,
list-timers and list-sockets print, colours and `--output=json` included.

The rules that make the bytes come out the same: headers are the column names upper-cased, one
space between columns, an empty cell prints as "-", the last column loses its padding unless a
colour is on, the header line is underlined as a whole, and a cell set with both colours carries
its colour over the separator to its right (systemctl underlines the last row of each unit type).
"""

from __future__ import annotations

import os
import sys

from sysmasterd.cli.sctl_format import use_colors

TYPE_CHECKING = False  # mypy knows this name; typing itself costs more to import than sctl may spend
if TYPE_CHECKING:
    from typing import Any

NORMAL = "\x1b[0m"
RED = "\x1b[0;1;31m"
GREEN = "\x1b[0;1;32m"
YELLOW = "\x1b[0;1;38;5;185m"
GREY = "\x1b[0;38;5;245m"
HIGHLIGHT = "\x1b[0;1;39m"
# systemd's "underlined" colours are the colour followed by a reset-and-underline (so the colour
# is lost): the same bytes, since scripts and tests compare them. The Linux console cannot underline.
_UNDER = "" if os.environ.get("TERM") == "linux" else "\x1b[0;4m"
UNDERLINE = NORMAL + _UNDER
RED_UNDERLINE = RED + _UNDER
GREEN_UNDERLINE = GREEN + _UNDER
YELLOW_UNDERLINE = YELLOW + _UNDER
GREY_UNDERLINE = GREY + _UNDER

# JSON output modes of -o, and their json.dumps() arguments (None: not a JSON mode).
JSON_MODES: dict[str, dict[str, Any] | None] = {
    "short": None, "short-full": None, "short-iso": None, "short-iso-precise": None, "short-precise": None,
    "short-monotonic": None, "short-unix": None, "short-delta": None, "verbose": None, "export": None,
    "cat": None, "with-unit": None,
    "json": {"separators": (",", ":")}, "json-pretty": {"indent": "\t", "separators": (",", " : ")},
    "json-sse": {"separators": (",", ":")}, "json-seq": {"separators": (",", ":")},
}


class Cell:
    """A cell's text (None: empty, printed as "-") and its colour; `value` is what JSON shows."""

    __slots__ = ("color", "text", "value")

    def __init__(self, text: str | None, color: str = "", value: Any = None) -> None:
        self.text, self.color = text, color
        self.value = text if value is None else value


def _shown_text(cell: Cell) -> str:
    return cell.text if cell.text is not None else "-"


class Table:
    def __init__(self, *names: str, header: bool = True) -> None:
        self.names = list(names)
        self.rows: list[list[Cell]] = []
        self.header = header
        self.hidden: set[int] = set()

    def add(self, *cells: Cell | str | None) -> None:
        self.rows.append([c if isinstance(c, Cell) else Cell(c) for c in cells])

    def _shown(self) -> list[int]:
        return [i for i in range(len(self.names)) if i not in self.hidden]

    def lines(self) -> list[str]:
        colors = use_colors()
        columns = self._shown()
        head = [Cell(n.upper()) for n in self.names]
        rows = ([head] if self.header else []) + self.rows
        # Every cell is at least one column wide, so an empty glyph column still takes its place.
        widths = {j: max([1, *(len(_shown_text(r[j])) for r in rows)]) for j in columns}
        out = []
        for index, row in enumerate(rows):
            is_header = self.header and index == 0
            gap = ""
            line = []
            for position, j in enumerate(columns):
                cell = row[j]
                text = _shown_text(cell)
                # An empty cell without a colour of its own is grey.
                color = "" if is_header else cell.color or (GREY if cell.text is None else "")
                if position == len(columns) - 1:
                    text = text.ljust(widths[j])
                    if not colors or (not color and not is_header):
                        text = text.rstrip(" ")
                else:
                    text = text.ljust(widths[j])
                if colors:
                    if gap:
                        line.append(gap)
                    elif is_header:
                        line.append(UNDERLINE if _UNDER else NORMAL)
                if position > 0:
                    line.append(" ")
                if colors:
                    if gap or (color and is_header):
                        line.append(NORMAL)
                    if color:
                        line.append(color)
                    elif gap and is_header:
                        line.append(UNDERLINE if _UNDER else NORMAL)
                line.append(text)
                if colors and (color or is_header):
                    line.append(NORMAL)
                gap = cell.color
            out.append("".join(line))
        return out

    def json(self, mode: str) -> str:
        import json

        names = [self.names[j].replace(" ", "_") for j in self._shown()]
        rows = [{name: row[j].value for name, j in zip(names, self._shown(), strict=True)} for row in self.rows]
        return json.dumps(rows, ensure_ascii=False, **(JSON_MODES.get(mode) or {}))

    def print(self, output: str = "short") -> None:
        if JSON_MODES.get(output) is not None:
            print(self.json(output))
        else:
            text = "\n".join(self.lines())
            if text:
                sys.stdout.write(text + "\n")
