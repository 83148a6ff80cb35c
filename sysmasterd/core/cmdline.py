"""systemd.* switches of the kernel command line, read as systemd's proc_cmdline_get_bool() reads
them: the last occurrence wins, a bare key means yes, dashes and underscores in the key are the same."""

from __future__ import annotations

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
