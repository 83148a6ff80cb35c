"""Shared pieces of devctl's verbs: GNU getopt with udevadm's messages, device lookup, time parsing."""

from __future__ import annotations

import getopt
import sys

from sysmasterd.cli.devctl import VERSION

TYPE_CHECKING = False  # typing's own import costs a verb more than it gains; mypy knows the name
if TYPE_CHECKING:
    from sysmasterd.devmaster.device import Device


class UsageError(Exception):
    """Bad command line: the message is printed and udevadm's exit status 1 returned."""


class Options:
    __slots__ = ("args", "opts")

    def __init__(self, opts: list[tuple[str, str]], args: list[str]) -> None:
        self.opts = opts
        self.args = args


def _optional_args(argv: list[str], optional: dict[str, str]) -> list[str]:
    """getopt has no optional arguments: rewrite -w / -wX / --wait... to --long=VALUE forms."""
    out = []
    for arg in argv:
        if arg == "--":
            out.append(arg)
            break
        for short, long in optional.items():
            if arg == f"--{long}":
                arg = f"--{long}="
            elif short and arg.startswith(f"-{short}") and not arg.startswith("--"):
                arg = f"--{long}={arg[2:]}"
        out.append(arg)
    return out + argv[len(out):]


def _full_long_names(verb: str, argv: list[str], short: str, long: list[str], optional: dict[str, str],
                     aliases: dict[str, str]) -> list[str]:
    """glibc's reading of abbreviated long options: a unique prefix (or one whose candidates all
    mean the same option, like control's --log for --log-level/--log-priority) stands for the
    first candidate in udevadm's table order; otherwise the option is ambiguous. Arguments of
    options are skipped, as getopt skips them."""
    takes = {name.rstrip("="): name.endswith("=") for name in long}
    out: list[str] = []
    rest = iter(argv)
    for arg in rest:
        if arg == "--":
            return [*out, arg, *rest]
        needs_value = False
        if arg.startswith("--"):
            name, eq, value = arg[2:].partition("=")
            found = [n for n in takes if n.startswith(name)] if name and name not in takes else []
            if found:
                first = found[0]
                same = aliases.get(first, first), takes[first]
                conflicting = [n for n in found[1:] if (aliases.get(n, n), takes[n]) != same]
                if conflicting:
                    listed = "".join(f" '--{n}'" for n in [first, *conflicting])
                    raise UsageError(f"{verb}: option '--{name}' is ambiguous; possibilities:{listed}")
                name, arg = first, f"--{first}{eq}{value}"
            needs_value = takes.get(name, False) and not eq and name not in optional.values()
        elif arg.startswith("-") and len(arg) > 1:
            for k, letter in enumerate(arg[1:], 2):
                at = short.find(letter)
                if at >= 0 and short[at + 1 : at + 2] == ":":
                    needs_value = k == len(arg)
                    break
        out.append(arg)
        if needs_value and (following := next(rest, None)) is not None:
            out.append(following)
    return out


def parse(verb: str, argv: list[str], short: str, long: list[str],
          optional: dict[str, str] | None = None, immediate: tuple[str, ...] = (),
          aliases: dict[str, str] | None = None) -> Options:
    """GNU getopt; `optional` maps short letters to long names whose argument may be omitted;
    `aliases` maps a long name to the one it means the same as. udevadm acts on some options
    (`immediate`, e.g. info's -e) the moment getopt returns them, so a bad option after one of
    those is never seen: the options up to it are returned instead."""
    argv = _full_long_names(verb, argv, short, long, optional or {}, aliases or {})
    if optional:
        argv = _optional_args(argv, optional)
    try:
        opts, args = getopt.gnu_getopt(argv, short, long)
    except getopt.GetoptError as e:
        for end in range(1, len(argv)):
            try:
                opts, args = getopt.gnu_getopt(argv[:end], short, long)
            except getopt.GetoptError:
                break
            if opts and opts[-1][0] in immediate:
                return Options(opts, args)
        opt = e.opt
        if opt and len(opt) > 1:
            if "requires argument" in e.msg:
                raise UsageError(f"{verb}: option '--{opt}' requires an argument") from None
            if "must not have an argument" in e.msg:
                raise UsageError(f"{verb}: option '--{opt}' doesn't allow an argument") from None
            given = next((a for a in argv if a.startswith(f"--{opt}")), f"--{opt}")
            raise UsageError(f"{verb}: unrecognized option '{given}'") from None
        if "requires argument" in e.msg:
            raise UsageError(f"{verb}: option requires an argument -- '{opt}'") from None
        raise UsageError(f"{verb}: invalid option -- '{opt}'") from None
    return Options(opts, args)


def parse_seconds(text: str) -> float:
    """systemd's parse_sec(): a number with an optional unit (s, ms, us, min, h); 'infinity'."""
    text = text.strip()
    if text == "infinity":
        return float("inf")
    units = (("usec", 1e-6), ("us", 1e-6), ("msec", 1e-3), ("ms", 1e-3), ("min", 60.0), ("sec", 1.0),
             ("s", 1.0), ("h", 3600.0), ("m", 60.0))
    for suffix, factor in units:
        if text.endswith(suffix) and text[: -len(suffix)].strip():
            return float(text[: -len(suffix)]) * factor
    value = float(text)
    if value < 0:
        raise ValueError(text)
    return value


def refusal(text: str) -> str:
    """The strerror of systemd's safe_atou()/parse_sec() for a value they refuse: a negative
    number is out of range, anything else invalid."""
    return "Numerical result out of range" if text.strip().startswith("-") else "Invalid argument"


def parse_timeout(text: str, what: str) -> float:
    """parse_seconds(), or the usage error "<what> '<text>': <reason>"."""
    try:
        return parse_seconds(text)
    except ValueError:
        raise UsageError(f"{what} '{text}': {refusal(text)}") from None


def parse_unsigned(text: str, what: str) -> int:
    """safe_atou(), or the usage error "<what> '<text>': <reason>"."""
    from udev_rules_translator.numbers import parse_unsigned as safe_atou

    value, reason = safe_atou(text)
    if value is None:
        raise UsageError(f"{what} '{text}': {reason}")
    return value


VERSION_OR_HELP = ("-V", "--version", "-h", "--help")


def man_page(prog: str) -> str:
    """The manual help texts point to: udevadm's when called by that name, else ours."""
    return "udevadm(8)" if prog == "udevadm" else "devctl(1)"


def version_or_help(opt: str, help_text: str) -> int:
    """-V/--version and -h/--help, which every verb takes: print, and the verb exits 0."""
    print(VERSION if opt in ("-V", "--version") else help_text)
    return 0


def error(message: str) -> int:
    print(message, file=sys.stderr)
    return 1


def with_db(dev: Device, run_dir: str = "") -> Device:
    from sysmasterd.devmaster.framework import db

    rec = db.read_db(dev.device_id, run_dir or db.RUN_UDEV)
    if rec is not None:
        db.load_into(dev, rec)
    return dev
