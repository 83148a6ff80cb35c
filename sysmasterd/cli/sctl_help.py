"""`sctl help UNIT...`: the man pages a unit's Documentation= names, shown with man(1)."""

from __future__ import annotations

import subprocess

from sysmasterd.cli.sctl_bus import UNIT, Client
from sysmasterd.cli.sctl_common import EXIT_FAILURE, Options, err


def unit_help(client: Client, opts: Options, verb: str, patterns: list[str]) -> int:
    from sysmasterd.cli.sctl_lists import expand_names

    if not patterns:
        err("'help' command expects one or more unit names.\n"
            "(Alternatively, help for systemctl itself may be shown with --help)")
        return EXIT_FAILURE
    names: list[str] = []
    for pattern in patterns:
        if pattern.isascii() and pattern.isdigit() and int(pattern) < 1 << 32:  # a PID
            path = client.manager("GetUnitByPID", "u", [int(pattern)])
            names.append(client.get(path, UNIT, "Id"))
        else:
            names += expand_names(client, opts, [pattern])
    for name in names:
        props = client.get_all(client.unit_path(name), UNIT)
        if props["LoadState"] == "not-found" and props["ActiveState"] == "inactive":
            err(f"Unit {name} could not be found.")
            return EXIT_FAILURE
        if not props["Documentation"]:
            err(f"Documentation for {props['Id']} not known.")
        for doc in props["Documentation"]:
            if doc.startswith("man:"):
                _man(doc[4:])
            else:
                err(f"Can't show: {doc}")
    return 0


def _man(page: str) -> None:
    """man(1) on `page(section)` or `page`; its failure is its own to report, as in systemctl."""
    name, paren, section = page.partition("(")
    args = [section.removesuffix(")"), name] if paren and page.endswith(")") else [page]
    try:
        subprocess.run(["man", *args], check=False)
    except OSError as e:
        err(f"Failed to execute man: {e.strerror}")
