"""systemctl's pager (pager.c): on a terminal the output of the listing verbs goes through
$SYSTEMD_PAGER or $PAGER, else pager, less or more, with systemd's less options; off with
--no-pager, an empty $SYSTEMD_PAGER or "cat". Without $SYSTEMD_PAGERSECURE the configured pager is
only trusted when sctl runs as the owner of the login session (else less in its secure mode)."""

from __future__ import annotations

import os
import sys

from sysmasterd.cli.sctl_common import BOOLEANS

TYPE_CHECKING = False  # mypy knows this name; typing itself costs more to import than sctl may spend
if TYPE_CHECKING:
    import subprocess

# the pager once started; subprocess and shlex are imported only then, not by every listing verb
_PAGED: list[subprocess.Popen[bytes]] = []
_FALLBACKS = ("pager", "less", "more")


def _utf8_locale() -> bool:
    locale = os.environ.get("LC_ALL") or os.environ.get("LC_CTYPE") or os.environ.get("LANG") or ""
    return locale.lower().replace("-", "").endswith("utf8")


def _session_owner() -> int | None:
    """sd_pid_get_owner_uid(0): the uid of the user slice we run in, if any."""
    import re

    try:
        with open("/proc/self/cgroup") as f:
            found = re.search(r"/user-(\d+)\.slice/", f.read())
    except OSError:
        return None
    return int(found[1]) if found else None


def _secure() -> tuple[bool, bool]:
    """(secure mode, whether the configured pager is trusted)."""
    setting = os.environ.get("SYSTEMD_PAGERSECURE")
    if setting is None:
        return _session_owner() != os.geteuid(), False
    return BOOLEANS.get(setting.lower(), True), True  # not a boolean: secure, as systemd assumes


def start(enabled: bool) -> None:
    """Send stdout and stderr through the pager from here on, when systemctl would."""
    term = os.environ.get("TERM", "")
    if not enabled or not sys.stdout.isatty() or not sys.stderr.isatty() or term in ("", "dumb"):
        return
    import shlex
    import subprocess

    configured = os.environ.get("SYSTEMD_PAGER", os.environ.get("PAGER"))
    words = shlex.split(configured) if configured is not None else None
    if words is not None and (not words or words == ["cat"]):
        return
    secure, trusted = _secure()
    env = dict(os.environ, LESS=os.environ.get("SYSTEMD_LESS", "FRSXMK"))
    charset = os.environ.get("SYSTEMD_LESSCHARSET", "utf-8" if _utf8_locale() else "")
    if charset:
        env["LESSCHARSET"] = charset
    if secure:
        env["LESSSECURE"] = "1"
    else:
        env.pop("LESSSECURE", None)
    candidates = ([words] if trusted and words else []) + [[p] for p in _FALLBACKS
                                                          if not secure or p == "less"]
    for argv in candidates:
        try:
            pager = subprocess.Popen(argv, stdin=subprocess.PIPE, env=env)
        except OSError:
            continue
        assert pager.stdin is not None
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(pager.stdin.fileno(), 1)
        os.dup2(pager.stdin.fileno(), 2)
        pager.stdin.close()
        _PAGED.append(pager)
        return


def end() -> None:
    """Close the pager's input and wait until the user has left it."""
    if not _PAGED:
        return
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:
        pass
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    os.close(devnull)
    _PAGED.pop().wait()
