"""The kernel command line as systemd reads it: systemd.* switches as proc_cmdline_get_bool() does
(the last occurrence wins, a bare key means yes, dashes and underscores in the key are the same),
and the unit to boot as PID 1's parse_proc_cmdline_item() does."""

from __future__ import annotations

from compat import unitname
from compat.values import boolean_or_none

PROC_CMDLINE = "/proc/cmdline"


def switch(key: str, cmdline: str | None = None) -> bool | None:
    """The value of ``key`` on the kernel command line, None when absent or not a boolean."""
    if cmdline is None:
        try:
            with open(PROC_CMDLINE) as f:
                cmdline = f.read()
        except OSError:
            return None
    wanted = key.replace("_", "-")
    found: bool | None = None
    for word in cmdline.split():
        name, eq, value = word.partition("=")
        if name.replace("_", "-") == wanted:
            found = boolean_or_none(value) if eq else True
    return found


# SysV runlevel words (systemd's rlmap / rlmap_initrd): the target a bare word boots into
_RUNLEVELS = {"emergency": "emergency.target", "-b": "emergency.target", "rescue": "rescue.target",
              "single": "rescue.target", "-s": "rescue.target", "s": "rescue.target", "S": "rescue.target",
              "1": "rescue.target", "2": "multi-user.target", "3": "multi-user.target",
              "4": "multi-user.target", "5": "graphical.target"}
_RUNLEVELS_INITRD = {"emergency": "emergency.target", "rescue": "rescue.target"}


def default_unit(cmdline: str, initrd: bool = False) -> tuple[str | None, list[str]]:
    """The unit to boot that the kernel command line names, as systemd 252's PID 1 reads it:
    systemd.unit= (rd.systemd.unit= in the initrd) or a SysV runlevel word, the last one winning;
    with the warnings for what it ignores."""
    unit: str | None = None
    warnings = []
    for word in cmdline.split():
        key, eq, value = word.partition("=")
        if key in ("systemd.unit", "rd.systemd.unit"):
            if not eq:
                warnings.append(f"Missing argument for {key}= kernel command line switch, ignoring.")
            elif not unitname.is_valid(value, template=False):
                warnings.append(f"Unit name specified on {key}= is not valid, ignoring: {value}")
            elif initrd == key.startswith("rd."):
                unit = value
        elif not eq:
            if initrd:
                target = _RUNLEVELS_INITRD.get(key.removeprefix("rd.")) if key.startswith("rd.") else None
            else:
                target = _RUNLEVELS.get(key)
            unit = target or unit
    return unit, warnings
