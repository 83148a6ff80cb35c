"""`sctl --root=DIR`: the unit-file verbs done on the files below DIR, without any manager, as
systemctl does them client-side (an image being prepared, a chroot, an installer's target); every
other verb is refused as systemctl refuses it. Messages are systemctl's client-side ones, which
differ from those the manager's D-Bus errors give."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from sysmasterd.cli.sctl_common import EXIT_FAILURE, Options, err, mangle
from sysmasterd.cli.sctl_manager import ENABLED_STATES, NO_INSTALL_INFO, print_unit_files

if TYPE_CHECKING:
    from collections.abc import Callable

    from compat.install import Installer, InstallError, InstallResult

# systemctl's words for what failed, by verb
_ACTIONS = {"enable": "enable", "disable": "disable", "mask": "mask", "unmask": "unmask"}


def _installer(opts: Options) -> Installer:
    from compat.install import Installer
    from compat.model import Scope

    return Installer(Scope.USER if opts.user else Scope.SYSTEM, root_dir=opts.root)


def _failure(action: str, e: InstallError) -> str:
    """install_changes_dump()'s wording of a refusal."""
    reasons = {
        "not-found": f"unit {e.subject} does not exist.",
        "masked": f"unit {e.subject} is masked.",
        "linked": f"refusing to operate on linked unit file {e.subject}.",
        "exists": f'file "{e.subject}" already exists.',
        "invalid": f'"{e.subject}" is not a valid unit name.',
    }
    reason = reasons.get(e.kind) if e.subject else None
    return f"Failed to {action} unit, {reason}" if reason else f"Failed to {action} unit: {e}"


def _print_changes(result: InstallResult | InstallError, quiet: bool) -> None:
    for change in result.changes if not quiet else ():
        print(str(change), file=sys.stderr)


def unit_files(opts: Options, verb: str, args: list[str]) -> int:
    from compat.install import InstallError

    names = [mangle(a, opts.quiet) for a in args]
    if not names:
        err("Too few arguments.")
        return EXIT_FAILURE
    inst = _installer(opts)
    calls: dict[str, Callable[[], InstallResult]] = {
        "enable": lambda: inst.enable(names, runtime=opts.runtime, force=bool(opts.force)),
        "disable": lambda: inst.disable(names, runtime=opts.runtime),
        "mask": lambda: inst.mask(names, runtime=opts.runtime, force=bool(opts.force)),
        "unmask": lambda: inst.unmask(names, runtime=opts.runtime),
    }
    try:
        result = calls[verb]()
    except InstallError as e:
        _print_changes(e, opts.quiet)
        err(_failure(_ACTIONS[verb], e))
        # systemctl's disable reports a missing unit among its changes and still succeeds
        return 0 if verb == "disable" and e.kind == "not-found" else EXIT_FAILURE
    _print_changes(result, opts.quiet)
    if verb == "enable" and not result.carries_install_info and not opts.quiet:
        err(NO_INSTALL_INFO)
    return 0


def is_enabled(opts: Options, verb: str, args: list[str]) -> int:
    inst = _installer(opts)
    enabled = False
    for name in (mangle(a, opts.quiet) for a in args):
        state = inst.file_state(name)
        if not state:
            err(f"Failed to get unit file state for {name}: No such file or directory")
            return EXIT_FAILURE
        if not opts.quiet:
            print(state)
        enabled = enabled or state in ENABLED_STATES
    return 0 if enabled else EXIT_FAILURE


def get_default(opts: Options, verb: str, args: list[str]) -> int:
    from compat.install import InstallError

    try:
        print(_installer(opts).get_default())
    except InstallError as e:
        err(f"Failed to get default target: {e}")
        return EXIT_FAILURE
    return 0


def set_default(opts: Options, verb: str, args: list[str]) -> int:
    from compat.install import InstallError

    if not args:
        err("Too few arguments.")
        return EXIT_FAILURE
    try:
        result = _installer(opts).set_default(mangle(args[0], opts.quiet, suffix=".target"))
    except InstallError as e:
        _print_changes(e, opts.quiet)
        err("Failed to set default: Invalid argument." if e.kind == "invalid" else f"Failed to set default: {e}")
        return EXIT_FAILURE
    _print_changes(result, opts.quiet)
    return 0


def list_unit_files(opts: Options, verb: str, args: list[str]) -> int:
    import fnmatch
    import os

    inst = _installer(opts)
    rows = [(os.path.basename(f.path), f.state) for f in inst.loader.list_unit_files()
            if (not opts.states or f.state in opts.states)
            and (not args or any(fnmatch.fnmatchcase(f.name, p) for p in args))]
    return print_unit_files(opts, rows, inst)


VERBS: dict[str, Callable[[Options, str, list[str]], int]] = {
    "enable": unit_files, "disable": unit_files, "mask": unit_files, "unmask": unit_files,
    "is-enabled": is_enabled, "get-default": get_default, "set-default": set_default,
    "list-unit-files": list_unit_files,
}


def run(opts: Options, verb: str, args: list[str]) -> int:
    handler = VERBS.get(verb)
    if handler is None:
        err(f"Verb '{verb}' cannot be used with --root= or --image=.")
        return EXIT_FAILURE
    return handler(opts, verb, args)
