"""``udev-rules-translate``: check, dump and translate udev rules for devmaster."""

from __future__ import annotations

import argparse
import io
import os
import sys
from collections.abc import Sequence
from typing import TextIO

from udev_rules_translator.compiler import CompileOptions
from udev_rules_translator.diagnostics import Diagnostic, Severity
from udev_rules_translator.dump import render_json, render_text
from udev_rules_translator.files import DEFAULT_DIRS, SUFFIX, RulesFile, file_identity, list_rules_files
from udev_rules_translator.loader import LoadedRules, compile_files
from udev_rules_translator.model import ResolveNames
from udev_rules_translator.translate import translate_text, write_translation

EPILOG = """\
examples:
  udev-rules-translate check                      lint the rules udev/devmaster would load
  udev-rules-translate check /etc/udev/rules.d/99-my.rules
  udev-rules-translate dump /usr/lib/udev/rules.d/60-block.rules
  udev-rules-translate dump --json > program.json
  udev-rules-translate translate /etc/udev/rules.d /etc/devmaster/rules.d

exit status: 0 clean, 1 problems found (errors or warnings), 2 usage error or bad path.
Diagnostics read "file:line: severity: message"; an error means udevd drops the line,
a warning that it changes or ignores part of it, a notice that something has no effect.
"""


class UsageError(Exception):
    pass


def _files_for(paths: Sequence[str]) -> list[RulesFile]:
    """Files to work on: the standard directories, or each FILE / each DIR's *.rules."""
    if not paths:
        return list_rules_files(DEFAULT_DIRS)
    files: list[RulesFile] = []
    for path in paths:
        if os.path.isdir(path):
            files.extend(list_rules_files([path]))
            continue
        identity = file_identity(path)
        if identity is None or not os.path.isfile(path):
            raise UsageError(f"{path}: no such rules file or directory")
        if not os.access(path, os.R_OK):
            raise UsageError(f"{path}: not readable")
        files.append(RulesFile(path, identity, identity.size == 0))
    return files


def _compile(paths: Sequence[str], resolve_names: str) -> LoadedRules:
    return compile_files(_files_for(paths), CompileOptions(ResolveNames(resolve_names)))


def _print_diagnostics(diagnostics: Sequence[Diagnostic], stream: TextIO) -> None:
    for d in diagnostics:
        print(d, file=stream)


def _problems(diagnostics: Sequence[Diagnostic]) -> bool:
    return any(d.severity <= Severity.WARNING for d in diagnostics)


def cmd_check(args: argparse.Namespace) -> int:
    loaded = _compile(args.paths, args.resolve_names)
    _print_diagnostics(loaded.diagnostics, sys.stdout)
    counts = {s: sum(1 for d in loaded.diagnostics if d.severity is s) for s in Severity}
    checked = sum(1 for s in loaded.rules.sources if s.size)
    print(
        f"{checked} rules files checked: {counts[Severity.ERROR]} errors, "
        f"{counts[Severity.WARNING]} warnings, {counts[Severity.NOTICE]} notices; "
        f"{len(loaded.rules)} lines, {loaded.rules.token_count} tokens",
        file=sys.stderr,
    )
    return 1 if _problems(loaded.diagnostics) else 0


def cmd_dump(args: argparse.Namespace) -> int:
    loaded = _compile(args.paths, args.resolve_names)
    _print_diagnostics(loaded.diagnostics, sys.stderr)
    sys.stdout.write(render_json(loaded.rules) + "\n" if args.json else render_text(loaded.rules))
    return 0


def cmd_translate(args: argparse.Namespace) -> int:
    files = [f for f in _files_for([args.source]) if not f.empty]
    if os.path.exists(args.dest) and not os.path.isdir(args.dest):
        raise UsageError(f"{args.dest}: not a directory")
    if os.path.isdir(args.source) and os.path.realpath(args.source) == os.path.realpath(args.dest):
        raise UsageError("SOURCE and DEST are the same directory")
    options = CompileOptions(ResolveNames(args.resolve_names))
    problems = False
    for f in files:
        with open(f.path, "rb") as src:
            translation = translate_text(f.path, src.read(), options)
        try:
            path = write_translation(translation, args.dest)
        except OSError as e:
            print(f"udev-rules-translate: cannot write into {args.dest}: {e.strerror}", file=sys.stderr)
            return 1
        _print_diagnostics(translation.diagnostics, sys.stderr)
        problems = problems or _problems(translation.diagnostics)
        print(f"{f.path} -> {path}")
    return 1 if problems else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="udev-rules-translate",
        description="Check, show and translate udev rules as devmaster (udevd 252 semantics) reads them.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--resolve-names",
        choices=[r.value for r in ResolveNames],
        default=ResolveNames.EARLY.value,
        help="when OWNER/GROUP names become ids, as udev.conf's resolve_names= (default: early)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    paths_help = f"rules files or directories (default: {', '.join(DEFAULT_DIRS)})"

    check = sub.add_parser("check", parents=[common], help="print diagnostics; exit 1 on problems")
    check.add_argument("paths", nargs="*", metavar="FILE|DIR", help=paths_help)
    check.set_defaults(func=cmd_check)

    dump = sub.add_parser("dump", parents=[common], help="show the compiled program")
    dump.add_argument("--json", action="store_true", help="machine-readable output")
    dump.add_argument("paths", nargs="*", metavar="FILE|DIR", help=paths_help)
    dump.set_defaults(func=cmd_dump)

    translate = sub.add_parser("translate", parents=[common], help="write normalized rules for devmaster into DEST")
    translate.add_argument("source", metavar="SRC", help=f"a rules file or a directory of *{SUFFIX} files")
    translate.add_argument("dest", metavar="DEST", help="output directory, e.g. /etc/devmaster/rules.d")
    translate.set_defaults(func=cmd_translate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # rules may hold any bytes (kept as surrogate escapes): write them back as they were
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="surrogateescape")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except UsageError as e:
        parser.exit(2, f"udev-rules-translate: error: {e}\n")
    except BrokenPipeError:
        # `dump | head`: the reader left, nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
