"""getopt_long as glibc does it, with glibc's messages, for tools that stand in for C programs.

Scripts and users compare our errors with systemctl's/udevadm's ("sctl: unrecognized option
'--foo'"); options may follow operands, long options may be abbreviated, `--` ends options.
The stdlib's getopt words its errors differently and imports gettext (and with it re and locale).
"""

from __future__ import annotations

NO_ARG, REQUIRED, OPTIONAL = 0, 1, 2


class Opt:
    """One option: `key` is what parse() reports; short and long names may each be empty."""

    __slots__ = ("arg", "key", "long", "short")

    def __init__(self, key: str, short: str = "", long: str = "", arg: int = NO_ARG) -> None:
        self.key, self.short, self.long, self.arg = key, short, long, arg


class UsageError(Exception):
    """A bad command line; the message is glibc's, prefixed with the program name."""


def _long(prog: str, arg: str, specs: list[Opt], rest: list[str]) -> tuple[str, str | None]:
    name, eq, value = arg[2:].partition("=")
    exact = [s for s in specs if s.long == name]
    found = exact or [s for s in specs if s.long.startswith(name)]
    if not found:
        raise UsageError(f"{prog}: unrecognized option '{arg}'")  # glibc quotes the whole argument
    if len({s.key for s in found}) > 1:
        names = " ".join(f"'--{s.long}'" for s in found)
        raise UsageError(f"{prog}: option '--{name}' is ambiguous; possibilities: {names}")
    spec = found[0]
    if spec.arg == NO_ARG and eq:
        raise UsageError(f"{prog}: option '--{spec.long}' doesn't allow an argument")
    if spec.arg == REQUIRED and not eq:
        if not rest:
            raise UsageError(f"{prog}: option '--{spec.long}' requires an argument")
        value = rest.pop(0)
    return spec.key, value if eq or spec.arg == REQUIRED else None


def parse(prog: str, argv: list[str], specs: list[Opt]) -> tuple[list[tuple[str, str | None]], list[str]]:
    """(key, value) for each option in order, and the operands; value is None for a flag."""
    shorts = {s.short: s for s in specs if s.short}
    opts: list[tuple[str, str | None]] = []
    operands: list[str] = []
    rest = list(argv)
    while rest:
        arg = rest.pop(0)
        if arg == "--":
            operands += rest
            break
        if arg.startswith("--"):
            opts.append(_long(prog, arg, specs, rest))
        elif arg.startswith("-") and arg != "-":
            i = 1
            while i < len(arg):
                spec = shorts.get(arg[i])
                if spec is None:
                    raise UsageError(f"{prog}: invalid option -- '{arg[i]}'")
                i += 1
                if spec.arg == NO_ARG:
                    opts.append((spec.key, None))
                    continue
                if i < len(arg):
                    opts.append((spec.key, arg[i:]))
                elif spec.arg == OPTIONAL:
                    opts.append((spec.key, None))
                elif rest:
                    opts.append((spec.key, rest.pop(0)))
                else:
                    raise UsageError(f"{prog}: option requires an argument -- '{spec.short}'")
                break
        else:
            operands.append(arg)
    return opts, operands
