"""sysmaster-init [--config FILE] [-- CORE-ARGS...]: PID 1. See docs/init.md."""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from typing import TYPE_CHECKING, NoReturn

from sysmasterd.init import system
from sysmasterd.init.log import log

if TYPE_CHECKING:
    from sysmasterd.init.state import InitState

# config, state and supervisor are imported once the arguments are read: `--help` and a usage
# error need none of them (issue 16's start-up discipline).


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _parser() -> _Parser:
    parser = _Parser(prog="sysmaster-init", description="Tiny PID 1: starts and watches sysmasterd.",
                     epilog="Arguments after -- replace the core arguments of init.conf.")
    parser.add_argument("--config", metavar="FILE", help="init.conf (default /etc/sysmaster/init.conf)")
    parser.add_argument("--deserialize", metavar="FD", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--check", action="store_true", help=argparse.SUPPRESS)
    return parser


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """-> (options, core arguments). Raises UsageError."""
    own, core = (argv[: argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [])
    return _parser().parse_args(own), core


def _options(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    try:
        return parse_args(argv)
    except UsageError as e:
        if not system.is_pid1():
            raise
        # The kernel hands PID 1 whatever it did not understand on its command line.
        log(f"ignoring arguments: {e}")
        return parse_args([])


def _initial_state(opts: argparse.Namespace, core_args: list[str]) -> InitState:
    from sysmasterd.init.state import InitState, read_fd

    if opts.deserialize is not None:
        try:
            state = read_fd(opts.deserialize)
            log(f"re-executed: core pid {state.core.pid if state.core else 'none'}, "
                f"{len(state.store)} fd sets, {len(state.exits)} pending exit reports")
            return state
        except (OSError, ValueError) as e:
            log(f"cannot restore state after re-exec, starting afresh: {e}")
    return InitState(config_path=opts.config, core_args=core_args)


def _reap_forever() -> NoReturn:
    """PID 1's last resort when its own code is broken: at least no zombie piles up."""
    while True:
        try:
            os.wait()
        except Exception:  # ChildProcessError, or anything at all: wait and try again
            time.sleep(1)


def main(argv: list[str] | None = None) -> int:
    try:
        opts, core_args = _options(sys.argv[1:] if argv is None else argv)
    except UsageError as e:
        _parser().print_usage(sys.stderr)
        print(f"sysmaster-init: {e}", file=sys.stderr)
        return 2
    if opts.check:  # used by init before it re-executes itself: can this code start and restore?
        from sysmasterd.init.state import read_fd

        if opts.deserialize is not None:
            try:
                read_fd(opts.deserialize)
            except (OSError, ValueError) as e:
                print(f"sysmaster-init: cannot restore state: {e}", file=sys.stderr)
                return 1
        return 0
    try:
        from sysmasterd.init.config import load_config
        from sysmasterd.init.supervisor import Init

        state = _initial_state(opts, core_args)
        if opts.deserialize is None and system.is_machine_init():
            system.mount_api_filesystems()
            system.setup_console()
            system.route_ctrl_alt_del_to_init()
        if not system.is_pid1():
            system.set_child_subreaper()
        os.umask(0o022)
        config, diagnostics = load_config(state.config_path)
        for line in diagnostics:
            log(line)
        init = Init(config, state)
        init.install_signals()
        return init.run()
    except Exception:
        if not system.is_pid1():
            raise
        log("fatal error:\n" + traceback.format_exc().rstrip())
        _reap_forever()


if __name__ == "__main__":
    sys.exit(main())
