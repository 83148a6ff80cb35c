"""kmod builtin: `kmod load [alias...]` through modprobe (libkmod's tool); no alias: $MODALIAS."""

import errno
import logging
import os
import shutil
import subprocess
from functools import cache

from sysmasterd.devmaster.event import UdevEvent

log = logging.getLogger("devmaster")


@cache
def _modprobe() -> str | None:
    """modprobe, when it has a module tree for the running kernel to load from."""
    if not os.path.isdir(os.path.join("/lib/modules", os.uname().release)):
        return None
    return shutil.which("modprobe") or next(
        (p for p in ("/sbin/modprobe", "/usr/sbin/modprobe") if os.access(p, os.X_OK)), None)


def init() -> None:
    _modprobe()


def run(event: UdevEvent, argv: list[str], test: bool) -> int:
    if len(argv) < 2 or argv[1] != "load":
        log.warning("%s: %s: expected: load [module…]", event.dev.sysname, argv[0] if argv else "kmod")
        return -errno.EINVAL
    modules = argv[2:]
    if not modules:
        modalias = event.dev.properties.get("MODALIAS")
        if modalias is None:
            log.warning("%s: Failed to read property \"MODALIAS\".", event.dev.sysname)
            return -errno.ENOENT
        modules = [modalias]
    modprobe = _modprobe()
    if modprobe is None:
        log.debug("%s: no modprobe or no modules for this kernel, not loading %s",
                  event.dev.sysname, " ".join(modules))
        return 0
    for alias in modules:
        if test:
            print(f"kmod: would load '{alias}'")
            continue
        subprocess.run([modprobe, "-b", "-q", alias], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
    return 0
