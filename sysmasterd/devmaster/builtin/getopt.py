"""glibc's getopt_long() as udevd's builtins meet it: GNU argument order, unique prefixes of long
options, and errors printed to stderr under the builtin's name while parsing goes on (the
builtins ignore what getopt could not read)."""

import sys

TYPE_CHECKING = False  # mypy knows the name; typing costs devctl test-builtin more than it gains
if TYPE_CHECKING:
    from collections.abc import Iterator


def getopt_long(name: str, argv: list[str], short: str,
                long: dict[str, str]) -> tuple[list[tuple[str, str]], list[str]]:
    """(options as (short letter, value), operands) of `argv` (without the builtin's name).
    `short` is getopt's spec ("f:d:"); `long` maps each long name to its short letter."""
    opts: list[tuple[str, str]] = []
    operands: list[str] = []
    rest = iter(argv)
    for arg in rest:
        if arg == "--":
            operands += rest
            break
        if arg.startswith("--"):
            key, eq, value = arg[2:].partition("=")
            found = [n for n in long if n == key] or [n for n in long if n.startswith(key)]
            if len({long[n] for n in found}) != 1:
                listed = "".join(f" '--{n}'" for n in found)
                print(f"{name}: option '--{key}' is ambiguous; possibilities:{listed}" if found
                      else f"{name}: unrecognized option '{arg}'", file=sys.stderr)
                continue
            letter = long[found[0]]
            if not _takes_value(short, letter):
                if eq:
                    print(f"{name}: option '--{found[0]}' doesn't allow an argument", file=sys.stderr)
                else:
                    opts.append((letter, ""))
                continue
            if not eq:
                following = next(rest, None)
                if following is None:
                    print(f"{name}: option '--{found[0]}' requires an argument", file=sys.stderr)
                    continue
                value = following
            opts.append((letter, value))
        elif arg.startswith("-") and arg != "-":
            _short_cluster(name, arg[1:], short, rest, opts)
        else:
            operands.append(arg)
    return opts, operands


def _takes_value(short: str, letter: str) -> bool:
    at = short.find(letter)
    return at >= 0 and short[at + 1 : at + 2] == ":"


def _short_cluster(name: str, letters: str, short: str, rest: "Iterator[str]", opts: list[tuple[str, str]]) -> None:
    for k, letter in enumerate(letters):
        if letter == ":" or letter not in short:
            print(f"{name}: invalid option -- '{letter}'", file=sys.stderr)
            continue
        if not _takes_value(short, letter):
            opts.append((letter, ""))
            continue
        value = letters[k + 1 :] or next(rest, None)
        if value is None:
            print(f"{name}: option requires an argument -- '{letter}'", file=sys.stderr)
        else:
            opts.append((letter, value))
        return
