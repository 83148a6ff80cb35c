"""Builtin dispatch: IMPORT{builtin}/RUN{builtin} and `devctl test-builtin`.

A builtin is `run(event, argv, test) -> int`: 0 on success, a negative errno
on failure (the IMPORT then does not match). Properties go through
`add_property` so `test` mode prints them like udev's builtins do.
"""

import importlib

from sysmasterd.devmaster.rules.words import split_command

# Names for mypy only: `devctl test-builtin` reaches this module and must not pay for typing,
# logging or the event's modules before the builtin it runs asks for them.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from sysmasterd.devmaster.event import UdevEvent

    BuiltinFunc = Callable[[UdevEvent, list[str], bool], int]

NAMES = ("blkid", "btrfs", "hwdb", "input_id", "keyboard", "kmod", "net_id", "net_setup_link",
         "path_id", "usb_id", "uaccess")
# The builtins with data to load and free (init/unload hooks); the others are imported only to run.
WITH_DATA = ("hwdb", "kmod", "net_setup_link")
DESCRIPTIONS = {
    "blkid": "Filesystem and partition probing",
    "btrfs": "btrfs volume management",
    "hwdb": "Hardware database",
    "input_id": "Input device properties",
    "keyboard": "Keyboard scan code to key mapping",  # Debian 252.39's udevadm says so
    "kmod": "Kernel module loader",
    "net_id": "Network device properties",
    "net_setup_link": "Configure network link",
    "path_id": "Compose persistent device path",
    "usb_id": "USB device properties",
    "uaccess": "Manage device node user ACL",
}


def add_property(event: "UdevEvent", key: str, value: str, test: bool) -> None:
    event.dev.set_property(key, value)
    if test:
        print(f"{key}={value}")


def lookup(command: str) -> str | None:
    word = command.split(None, 1)[0] if command.strip() else ""
    return next((name for name in NAMES if name.startswith(word) and word), None)


def _function(name: str) -> "BuiltinFunc":
    module = importlib.import_module(f"sysmasterd.devmaster.builtin.{name}")
    func: BuiltinFunc = module.run
    return func


def init_builtins() -> None:
    """Load every builtin and its data (hwdb, .link files) once, before workers are forked.

    Like udev_builtin_init(): forked workers then share it instead of each paying for it.
    """
    _each("init")


def unload_builtins() -> None:
    """udev_builtin_exit(): what `devctl test` and test-builtin log last."""
    _each("unload")


def _each(hook: str) -> None:
    for name in WITH_DATA:
        func = getattr(importlib.import_module(f"sysmasterd.devmaster.builtin.{name}"), hook, None)
        if func is not None:
            func()


def run_builtin(name: str, event: "UdevEvent", command: str, test: bool = False) -> int:
    argv = split_command(command)
    try:
        return _function(name)(event, argv, test)
    except OSError as e:
        import logging

        logging.getLogger("devmaster").debug("%s: builtin %s failed: %s", event.dev.sysname, name, e)
        return -(e.errno or 5)
