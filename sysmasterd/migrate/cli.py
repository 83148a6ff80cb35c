"""`sysmaster-migrate report`: the command line."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from types import ModuleType

from compat.loader import UnitLoader
from compat.model import Scope
from sysmasterd.core.main import unit_path_from
from sysmasterd.migrate.model import Report
from sysmasterd.migrate.render import render_json, render_text
from sysmasterd.migrate.units import UnitScanner

EXIT_CLEAN, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


def rules_scanner() -> ModuleType | None:
    """The rules half, or None: it needs udev_rules_translator and devmaster, which the rpm puts in
    sysmaster-py-devmaster, while this command ships with the service manager."""
    try:
        from sysmasterd.migrate import rules
    except ModuleNotFoundError:
        return None
    return rules


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="sysmaster-migrate",
        description="What of this host's unit files and udev rules sysmaster-py would not honour exactly.")
    verbs = p.add_subparsers(dest="verb", required=True, metavar="VERB")
    r = verbs.add_parser("report", help="scan units and rules; exit 0 if all is supported, 1 otherwise",
                         description="Scan unit files (search path, drop-ins, generator output) and udev rules; "
                                     "list what would not be honoured exactly, with file:line. Exit status: 0 "
                                     "everything fully supported, 1 something to report, 2 usage error.")
    scope = r.add_mutually_exclusive_group()
    scope.add_argument("--system", action="store_true", help="the system manager's units (default as root)")
    scope.add_argument("--user", action="store_true", help="the user manager's units")
    r.add_argument("--unit-path", action="append", default=[], metavar="DIR",
                   help="unit search directory instead of the scope's (repeatable; SYSTEMD_UNIT_PATH rules: "
                        "a trailing ':' appends the defaults)")
    r.add_argument("--rules-dir", action="append", default=[], metavar="DIR",
                   help="rules directory instead of udev's and devmaster's (repeatable)")
    r.add_argument("--root", metavar="DIR", default="/", help="look for everything below this directory")
    r.add_argument("--no-units", action="store_true", help="do not scan unit files")
    r.add_argument("--no-rules", action="store_true", help="do not scan udev rules")
    r.add_argument("--resolve-names", default="early", metavar="early|late|never",
                   help="when OWNER/GROUP names are resolved, as devmaster's resolve_names= (default early)")
    r.add_argument("--json", action="store_true", help="print JSON instead of text")
    args = p.parse_args(argv)
    if args.no_units and args.no_rules:
        p.error("--no-units and --no-rules leave nothing to report")
    if not os.path.isdir(args.root):
        p.error(f"--root {args.root}: not a directory")
    args.rules = None if args.no_rules else rules_scanner()
    if args.rules is not None and args.resolve_names not in args.rules.RESOLVE_NAMES:
        p.error(f"--resolve-names: one of {', '.join(args.rules.RESOLVE_NAMES)}")
    if args.rules is None and not args.no_rules:
        if args.rules_dir or args.no_units:
            p.error("udev rules cannot be checked: devmaster (sysmaster-py-devmaster) is not installed")
        print("sysmaster-migrate: udev rules not checked: devmaster is not installed", file=sys.stderr)
        args.no_rules = True
    return args


def _rooted(root: str, path: str) -> str:
    return path if root == "/" else os.path.join(root, path.lstrip("/"))


def build_report(args: argparse.Namespace) -> Report:
    report = Report()
    if not args.no_units:
        # sysmasterd's default scope: system as root, user otherwise.
        scope = Scope.USER if args.user else Scope.SYSTEM if (args.system or os.getuid() == 0) else Scope.USER
        loader = UnitLoader(scope, unit_path=unit_path_from(args), root_dir=args.root)
        report.scanned_unit_dirs = list(loader.paths.search_path)
        report.units = UnitScanner(loader).scan()
    if not args.no_rules:
        dirs = [_rooted(args.root, d) for d in (args.rules_dir or args.rules.DEFAULT_DIRS)]
        report.scanned_rules_dirs = dirs
        report.rules = args.rules.scan_rules(dirs, args.resolve_names)
    return report


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    # The checks asked for answers log as the daemon would at run time (e.g. an unknown
    # capability in a condition): that is not the report's output.
    logging.getLogger("sysmasterd").addHandler(logging.NullHandler())
    report = build_report(args)
    render = render_json if args.json else render_text
    sys.stdout.write(render(report, units=not args.no_units, rules=not args.no_rules))
    return EXIT_CLEAN if report.clean else EXIT_FINDINGS


if __name__ == "__main__":
    sys.exit(main())
