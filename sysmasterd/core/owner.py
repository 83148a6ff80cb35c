"""User=/Group= as numeric ids, for what the manager itself hands over to a unit's user (its
credentials directory, its delegated cgroups)."""

from __future__ import annotations

import grp
import pwd


def owner_ids(user: str | None, group: str | None) -> tuple[int | None, int | None]:
    """The uid and gid of User=/Group= (None where unset or unknown: the child reports those);
    without Group= the user's primary group."""
    uid = gid = None
    try:
        if user:
            pw = pwd.getpwuid(int(user)) if user.isdigit() else pwd.getpwnam(user)
            uid, gid = pw.pw_uid, pw.pw_gid
        if group:
            gid = int(group) if group.isdigit() else grp.getgrnam(group).gr_gid
    except (KeyError, ValueError):
        pass
    return uid, gid
