"""The unit to boot from the kernel command line, as systemd 252's PID 1 reads it (checked against
its parse_proc_cmdline_item() and runlevel_to_target())."""

from __future__ import annotations

import pytest

from sysmasterd.core.cmdline import default_unit


@pytest.mark.parametrize(("cmdline", "initrd", "unit"), [
    ("quiet splash", False, None),
    ("systemd.unit=rescue.target", False, "rescue.target"),
    ("systemd.unit=multi-user.target 1", False, "rescue.target"),  # the last one wins
    ("single", False, "rescue.target"),
    ("-b", False, "emergency.target"),
    ("3", False, "multi-user.target"),
    ("5", False, "graphical.target"),
    ("runlevel=3", False, None),  # only a bare word is a runlevel
    ("rd.systemd.unit=x.target", False, None),  # the initrd's own, not the system's
    ("rd.systemd.unit=x.target systemd.unit=y.target", True, "x.target"),
    ("rescue rd.emergency", True, "emergency.target"),  # in the initrd only rd.* words count
    ("systemd.unit=getty@tty2.service", False, "getty@tty2.service"),
])
def test_boot_unit(cmdline: str, initrd: bool, unit: str | None) -> None:
    assert default_unit(cmdline, initrd) == (unit, [])


def test_bad_values_are_warned_about_and_ignored() -> None:
    assert default_unit("systemd.unit=rescue.target systemd.unit systemd.unit=a@.service") == ("rescue.target", [
        "Missing argument for systemd.unit= kernel command line switch, ignoring.",
        "Unit name specified on systemd.unit= is not valid, ignoring: a@.service",
    ])
