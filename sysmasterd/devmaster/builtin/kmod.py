"""kmod builtin: `kmod load [alias...]`; no alias: $MODALIAS.

Through libkmod (ctypes, context made before workers fork, as udevd does);
when libkmod.so.2 cannot be loaded, through `modprobe -b -q`.
"""

import errno
import logging
import os
from functools import cache

from sysmasterd.devmaster.builtin.libkmod import KmodContext
from sysmasterd.devmaster.event import UdevEvent

log = logging.getLogger("devmaster")
_context: KmodContext | None = None
_initialised = False


@cache
def _modprobe() -> str | None:
    """modprobe, when it has a module tree for the running kernel to load from."""
    if not os.path.isdir(os.path.join("/lib/modules", os.uname().release)):
        return None
    import shutil  # here: devctl test-builtin sets kmod up without ever loading a module

    return shutil.which("modprobe") or next(
        (p for p in ("/sbin/modprobe", "/usr/sbin/modprobe") if os.access(p, os.X_OK)), None)


def init() -> None:
    global _context, _initialised
    _initialised = True
    if _context is not None and _context.stale():
        log.debug("Kernel module index needs reloading.")
        _context.close()
        _context = None
    if _context is None:
        try:
            _context = KmodContext()
            log.debug("Loading kernel module index.")
        except OSError as e:
            log.debug("%s; loading modules with modprobe", e)
            _modprobe()


def unload() -> None:
    global _context
    log.debug("Unload kernel module index.")
    if _context is not None:
        _context.close()
        _context = None


def load_module(alias: str) -> None:
    """udev's module_load_and_warn(verbose=false): everything is logged at debug level."""
    log.debug("Loading module: %s", alias)
    if _context is None:
        modprobe = _modprobe()
        if modprobe is not None:
            import subprocess

            subprocess.run([modprobe, "-b", "-q", alias], stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
        return
    try:
        outcomes = _context.load(alias)
    except OSError as e:
        log.debug("%s", e)
        return
    if not outcomes:
        log.debug("Failed to find module '%s'", alias)
    for outcome in outcomes:
        if outcome.state == "failed":
            log.debug("Failed to insert module '%s': %s", outcome.module, os.strerror(outcome.error))
        else:
            log.debug("Module '%s': %s", outcome.module, outcome.state)


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
    if not _initialised:
        init()
    for alias in modules:
        load_module(alias)
    return 0
