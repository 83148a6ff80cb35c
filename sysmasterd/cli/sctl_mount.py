"""sctl bind, mount-image and switch-root: paths handed to the manager, which does the mounting."""

from __future__ import annotations

import os

from compat.partitions import DESIGNATORS
from sysmasterd.cli.sctl_bus import CallError, Client
from sysmasterd.cli.sctl_common import EXIT_FAILURE, Options, err, mangle


def _arity(args: list[str], least: int, most: int) -> bool:
    if len(args) < least:
        err("Too few arguments.")
    elif len(args) > most:
        err("Too many arguments.")
    return least <= len(args) <= most


def _image_options(text: str) -> list[tuple[str, str]] | None:
    """OPTS: mount options for the root file system, or PARTITION:OPTIONS; None for a partition
    systemd does not know or a bad escape."""
    from compat.words import cunescape

    partition, sep, options = text.partition(":")
    try:
        partition, options = cunescape(partition), cunescape(options.partition(":")[0])
    except ValueError:
        return None
    if not sep:
        return [("root", partition)] if partition else []
    return [(partition, options)] if partition in DESIGNATORS else None


def mount(client: Client, opts: Options, verb: str, args: list[str]) -> int:
    image = verb == "mount-image"
    if not _arity(args, 3 if image else 2, 4 if image else 3):
        return EXIT_FAILURE
    unit, src, dest = mangle(args[0], opts.quiet), args[1], args[2] if len(args) > 2 else ""
    try:
        if image:
            options = _image_options(args[3]) if len(args) > 3 else []
            if options is None:
                err("Failed to create bus message: Invalid argument")
                return EXIT_FAILURE
            client.manager("MountImageUnit", "sssbba(ss)", [unit, src, dest, opts.read_only, opts.mkdir, options])
        else:
            client.manager("BindMountUnit", "sssbb", [unit, src, dest, opts.read_only, opts.mkdir])
    except CallError as e:
        err(f"Failed to {'mount image' if image else 'bind mount'}: {e.text}")
        return EXIT_FAILURE
    return 0


def switch_root(client: Client, opts: Options, verb: str, args: list[str]) -> int:
    if not 1 <= len(args) <= 2:
        err("Too few arguments." if not args else "Wrong number of arguments.")
        return EXIT_FAILURE
    root = args[0]
    init = args[1] if len(args) > 1 else _cmdline_init()
    if init and _same_file(os.path.join(root, init.lstrip("/")), os.path.join(root, "lib/systemd/systemd")):
        init = ""  # the new root's systemd is what the manager runs anyway
    try:
        client.manager("SwitchRoot", "ss", [root, init])
    except CallError as e:
        err(f"Failed to switch root: {e.text}")
        return EXIT_FAILURE
    return 0


def _cmdline_init() -> str:
    try:
        with open("/proc/cmdline") as f:
            words = f.read().split()
    except OSError:
        return ""
    return next((w[5:] for w in reversed(words) if w.startswith("init=")), "")


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False
