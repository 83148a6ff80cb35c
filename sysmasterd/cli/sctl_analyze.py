"""`blame`, `critical-chain` and `plot`: activation timing, like systemd-analyze's verbs."""

from __future__ import annotations

import html
from dataclasses import dataclass

from sysmasterd.cli.sctl_bus import MANAGER, MANAGER_PATH, UNIT, Client
from sysmasterd.cli.sctl_common import Options, mangle
from sysmasterd.cli.sctl_format import format_span

MSEC = 1000


@dataclass
class Timing:
    name: str
    path: str  # the unit's object path, as ListUnits gave it
    activating: int  # monotonic usec when it left inactive
    activated: int  # when it became active (0: never)
    deactivated: int

    @property
    def time(self) -> int:
        end = self.activated or self.deactivated
        return max(0, end - self.activating) if self.activating and end else 0


def _timings(client: Client) -> list[Timing]:
    out = []
    for row in client.manager("ListUnits"):
        p = client.get_all(row[6], UNIT)
        out.append(Timing(row[0], row[6], p["InactiveExitTimestampMonotonic"], p["ActiveEnterTimestampMonotonic"],
                          p["ActiveExitTimestampMonotonic"]))
    return out


def _startup(client: Client) -> int:
    return int(client.get(MANAGER_PATH, MANAGER, "UserspaceTimestampMonotonic"))


def blame(client: Client, opts: Options, verb: str, args: list[str]) -> int:
    rows = sorted((t for t in _timings(client) if t.time), key=lambda t: t.time, reverse=True)
    width = max((len(format_span(t.time, MSEC)) for t in rows), default=0)
    for t in rows:
        print(f"{format_span(t.time, MSEC):>{width}} {t.name}")
    return 0


def critical_chain(client: Client, opts: Options, verb: str, args: list[str]) -> int:
    start = _startup(client)
    by_name = {t.name: t for t in _timings(client)}
    print('The time when unit became active or started is printed after the "@" character.\n'
          'The time the unit took to start is printed after the "+" character.\n')

    def label(t: Timing) -> str:
        if not t.activated:
            return t.name
        at = format_span(max(0, t.activated - start), MSEC)
        took = f" +{format_span(t.time, MSEC)}" if t.time else ""
        return f"{t.name} @{at}{took}"

    def chain(name: str, depth: int, seen: set[str]) -> None:
        t = by_name.get(name)
        if t is None:
            return
        print(("  " * (depth - 1) + "└─" if depth else "") + label(t))
        after = client.get(t.path, UNIT, "After")
        candidates = [by_name[a] for a in after if a in by_name and by_name[a].activated and a not in seen]
        if candidates:
            nxt = max(candidates, key=lambda c: c.activated)
            chain(nxt.name, depth + 1, seen | {nxt.name})

    root = mangle(args[0], opts.quiet) if args else "default.target"
    chain(root, 0, {root})
    return 0


def _rect(cls: str, x: float, y: int, width: float, height: int) -> str:
    return f'<rect class="{cls}" x="{x:.1f}" y="{y}" width="{width:.1f}" height="{height}"/>'


def plot(client: Client, opts: Options, verb: str, args: list[str]) -> int:
    start = _startup(client)
    rows = sorted((t for t in _timings(client) if t.activating or t.activated),
                  key=lambda t: t.activating or t.activated)
    end = max([start + 1, *(max(t.activated, t.deactivated, t.activating) for t in rows)])
    scale = 1000.0 / max(1, end - start)  # 1000 px for the whole boot
    bar, pad = 20, 10
    height = pad * 2 + bar * (len(rows) + 2)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{1000 + 400}" height="{height}">',
           "<style>rect.activating{fill:#c66}rect.active{fill:#6c6}text{font:12px sans-serif}</style>",
           f'<text x="{pad}" y="{pad + 12}">sysmasterd activation, total '
           f"{html.escape(format_span(end - start, MSEC))}</text>"]
    for i, t in enumerate(rows):
        y = pad + bar * (i + 1)
        x0 = (max(start, t.activating or t.activated) - start) * scale
        x1 = ((t.activated or t.activating) - start) * scale
        x2 = ((t.deactivated if t.deactivated > t.activated else end) - start) * scale
        out.append(_rect("activating", x0, y, max(0.0, x1 - x0), bar - 4))
        if t.activated:
            out.append(_rect("active", x1, y, max(1.0, x2 - x1), bar - 4))
        took = f" ({format_span(t.time, MSEC)})" if t.time else ""
        out.append(f'<text x="{x0 + 5:.1f}" y="{y + 12}">{html.escape(t.name + took)}</text>')
    out.append("</svg>")
    print("\n".join(out))
    return 0
