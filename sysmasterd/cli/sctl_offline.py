"""`sctl --root=DIR`: the unit-file verbs done on the files below DIR, without any manager, as
systemctl does them client-side (an image being prepared, a chroot, an installer's target); every
other verb is refused as systemctl refuses it. Messages are systemctl's client-side ones, which
differ from those the manager's D-Bus errors give."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from sysmasterd.cli.sctl_common import EXIT_FAILURE, Options, err, mangle
from sysmasterd.cli.sctl_manager import ENABLED_STATES, NO_INSTALL_INFO, file_call_args, print_unit_files

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from compat.install import Installer, InstallError, InstallResult

def _installer(opts: Options) -> Installer:
    from compat.install import Installer
    from compat.model import Scope

    scope = Scope.GLOBAL if opts.global_scope else Scope.USER if opts.user else Scope.SYSTEM
    return Installer(scope, root_dir=opts.root or "/")


def _failure(verb: str, e: InstallError) -> str:
    """install_changes_dump()'s wording of a refusal."""
    reasons = {
        "not-found": f"unit {e.subject} does not exist.",
        "masked": f"unit {e.subject} is masked.",
        "linked": f"refusing to operate on linked unit file {e.subject}.",
        "exists": f'file "{e.subject}" already exists.',
        "invalid": f'"{e.subject}" is not a valid unit name.',
    }
    reason = reasons.get(e.kind) if e.subject else None
    return f"Failed to {verb} unit, {reason}" if reason else f"Failed to {verb} unit: {e}"


def _print_changes(result: InstallResult | InstallError, quiet: bool) -> None:
    for change in result.changes if not quiet else ():
        print(str(change), file=sys.stderr)


def unit_files(opts: Options, verb: str, args: list[str]) -> int:
    from compat.install import InstallError

    body = file_call_args(verb, args, opts)  # the operands as the manager's method takes them
    if body is None:
        err("Too few arguments.")
        return EXIT_FAILURE
    inst = _installer(opts)
    calls: dict[str, Callable[[list[Any]], InstallResult]] = {
        "enable": lambda b: inst.enable(b[0], runtime=b[1], force=b[2]),
        "reenable": lambda b: inst.reenable(b[0], runtime=b[1], force=b[2]),
        "disable": lambda b: inst.disable(b[0], runtime=b[1]),
        "mask": lambda b: inst.mask(b[0], runtime=b[1], force=b[2]),
        "unmask": lambda b: inst.unmask(b[0], runtime=b[1]),
        "link": lambda b: inst.link(b[0], runtime=b[1], force=b[2]),
        "revert": lambda b: inst.revert(b[0]),
        "preset": lambda b: inst.preset(b[0], mode=b[1], runtime=b[2], force=b[3]),
        "preset-all": lambda b: inst.preset_all(mode=b[0], runtime=b[1], force=b[2]),
        "add-wants": lambda b: inst.add_dependency(b[0], b[1], b[2], runtime=b[3], force=b[4]),
        "add-requires": lambda b: inst.add_dependency(b[0], b[1], b[2], runtime=b[3], force=b[4]),
    }
    try:
        result = calls[verb](body)
    except InstallError as e:
        _print_changes(e, opts.quiet)
        err(_failure("add dependency on" if verb.startswith("add-") else verb, e))
        # systemctl's disable reports a missing unit among its changes and still succeeds
        return 0 if verb == "disable" and e.kind == "not-found" else EXIT_FAILURE
    _print_changes(result, opts.quiet)
    if verb in ("enable", "reenable") and not result.carries_install_info and not opts.quiet:
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
            if opts.full:  # below the root: systemctl 252 looks at the host's own files here
                result = inst.disable([name], runtime=opts.runtime, dry_run=True)
                for change in result.changes:
                    if change.type == "unlink":
                        print(f"  {change.path}")
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
    **dict.fromkeys(("enable", "reenable", "disable", "mask", "unmask", "link", "revert", "preset", "preset-all",
                     "add-wants", "add-requires"), unit_files),
    "is-enabled": is_enabled, "get-default": get_default, "set-default": set_default,
    "list-unit-files": list_unit_files,
}


# systemd 252 has no user unit paths below a root: each verb fails as systemctl words it
_USER_ROOT_FAILURES = {"is-enabled": "Failed to get unit file state for {unit}: Invalid argument",
                       "list-unit-files": "Failed to get unit file list: Invalid argument",
                       "get-default": "Failed to get default target: Invalid argument",
                       "set-default": "Failed to set default: Invalid argument.",
                       "preset-all": "Failed to preset: Invalid argument.",
                       "add-wants": "Failed to add dependency on: Invalid argument.",
                       "add-requires": "Failed to add dependency on: Invalid argument."}


def run(opts: Options, verb: str, args: list[str]) -> int:
    handler = VERBS.get(verb)
    if handler is None:
        err(f"Verb '{verb}' cannot be used with --root= or --image=.")
        return EXIT_FAILURE
    if opts.user and opts.root:
        unit = mangle(args[0], opts.quiet) if args else ""
        err(_USER_ROOT_FAILURES.get(verb, f"Failed to {verb}: Invalid argument.").format(unit=unit))
        return EXIT_FAILURE
    return handler(opts, verb, args)
