"""devmaster: command line like systemd-udevd's, then run the manager."""

import argparse
import asyncio
import logging
import os
import sys

from sysmasterd.devmaster import config as configmod
from sysmasterd.devmaster.framework.manager import Manager
from sysmasterd.devmaster.rules.loader import compile_rules, load_rules
from sysmasterd.tasks import crash_on_loop_exception


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="devmaster",
                                description="Rule-based manager for device events and files.")
    p.add_argument("-d", "--daemon", action="store_true", help="Detach and run in the background")
    p.add_argument("-D", "--debug", action="store_true", help="Enable debug output")
    p.add_argument("-c", "--children-max", type=int, metavar="INT", help="Set maximum number of workers")
    p.add_argument("-e", "--exec-delay", type=configmod.parse_seconds, metavar="SECONDS",
                   help="Seconds to wait before executing RUN=")
    p.add_argument("-t", "--event-timeout", type=configmod.parse_seconds, metavar="SECONDS",
                   help="Seconds to wait before terminating an event")
    p.add_argument("-N", "--resolve-names", choices=("early", "late", "never"),
                   help="When to resolve users and groups")
    p.add_argument("-V", "--version", action="version", version="devmaster 252 (sysmaster-py)")
    return p


def _daemonize() -> None:
    if os.fork() > 0:
        os._exit(0)
    os.setsid()
    fd = os.open(os.devnull, os.O_RDWR)
    for target in (0, 1, 2):
        os.dup2(fd, target)
    if fd > 2:
        os.close(fd)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if os.geteuid() != 0:
        print("devmaster: root privileges required", file=sys.stderr)
        return 1
    cfg = configmod.load()
    if args.debug:
        cfg.log_level = 7
    if args.children_max is not None:
        cfg.children_max = args.children_max
    if args.exec_delay is not None:
        cfg.exec_delay = args.exec_delay
    if args.event_timeout is not None:
        cfg.event_timeout = args.event_timeout
    if args.resolve_names is not None:
        cfg.resolve_names = args.resolve_names
    configmod.finish(cfg)
    logging.basicConfig(stream=sys.stderr, format="devmaster[%(process)d]: %(message)s",
                        level=configmod.python_log_level(cfg.log_level))
    for diag in cfg.diagnostics:
        logging.getLogger("devmaster").warning("%s", diag)
    if cfg.blockdev_read_only:
        logging.getLogger("devmaster").info("All physical block devices will be marked read-only.")
    manager = Manager(cfg, lambda: load_rules(cfg.rules_dirs, cfg.resolve_names),
                      compile_rules=lambda: compile_rules(cfg.rules_dirs, cfg.resolve_names))
    if args.daemon:
        _daemonize()
    asyncio.run(_serve(manager))
    return 0


async def _serve(manager: Manager) -> None:
    # A callback that fails (a reader, the watchdog timer) would otherwise be logged and lost,
    # leaving devmaster running without it: end instead, for the service manager to restart us.
    asyncio.get_running_loop().set_exception_handler(crash_on_loop_exception(logging.getLogger("devmaster")))
    await manager.run()


if __name__ == "__main__":
    sys.exit(main())
