"""Exec*= command lines and Environment= assignments, as systemd 252's config_parse_exec() reads them.

A line holds one or more commands separated by a lone `;` (`\\;` is a literal `;` argument).
The first word may carry the prefixes `-`, `@`, `:`, `+`, `!`, `!!`; words are unquoted and C
unescaped; specifiers are expanded by the caller-supplied functions.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from compat.model import ExecCommand, ExecFlag
from compat.words import WHITESPACE, Extract, WordSplitter

Expand = Callable[[str], str]
_EXEC_WORDS = Extract.UNQUOTE | Extract.CUNESCAPE
_PRIVILEGE_FLAGS = ExecFlag.FULL_PRIVILEGES | ExecFlag.NO_SETUID | ExecFlag.AMBIENT_PRIVILEGES


@dataclass(frozen=True)
class ExecProblem:
    message: str
    fatal: bool  # systemd refuses the unit (bad-setting) unless the command had the "-" prefix


def _strip_prefixes(word: str) -> tuple[str, ExecFlag]:
    flags = ExecFlag.NONE
    i = 0
    while i < len(word):
        c = word[i]
        if c == "-" and not flags & ExecFlag.IGNORE_FAILURE:
            flags |= ExecFlag.IGNORE_FAILURE
        elif c == "@" and not flags & ExecFlag.ARGV0:
            flags |= ExecFlag.ARGV0
        elif c == ":" and not flags & ExecFlag.NO_ENV_EXPAND:
            flags |= ExecFlag.NO_ENV_EXPAND
        elif c == "+" and not flags & _PRIVILEGE_FLAGS:
            flags |= ExecFlag.FULL_PRIVILEGES
        elif c == "!" and not flags & _PRIVILEGE_FLAGS:
            flags |= ExecFlag.NO_SETUID
        elif c == "!" and not flags & (ExecFlag.FULL_PRIVILEGES | ExecFlag.AMBIENT_PRIVILEGES):
            # "!!": ambient capabilities if available, otherwise like "!".
            flags = (flags & ~ExecFlag.NO_SETUID) | ExecFlag.AMBIENT_PRIVILEGES
        else:
            break
        i += 1
    return word[i:], flags


def _is_safe(text: str) -> bool:
    return all(c >= " " and c not in "\x7f\"'\\" for c in text)


def _path_is_valid(path: str) -> bool:
    if path.startswith("/"):
        return len(path) < 4096 and all(len(part) < 256 for part in path.split("/"))
    return path not in ("", ".", "..") and "/" not in path and len(path) < 256


def _simplify(path: str) -> str:
    if not path.startswith("/"):
        return path
    return "/" + "/".join(p for p in path.split("/") if p not in ("", "."))


@dataclass
class ExecParse:
    commands: list[ExecCommand] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # logged, the line still counts
    problem: ExecProblem | None = None  # what stopped parsing


def parse_exec(
    value: str, expand_path: Expand, expand_arg: Expand, source: str = "", line: int = 0
) -> ExecParse:
    """Commands parsed from one Exec*= value, warnings, and the problem that stopped parsing.

    Commands before a problem are kept, as systemd appends each command as soon as it is parsed.
    """
    result = ExecParse()
    splitter = WordSplitter(value, _EXEC_WORDS)
    rvalue = value  # systemd quotes the line from the current command on (a lone ";" keeps it)
    while True:
        try:
            first, warning = splitter.next_relaxed()
        except ValueError:
            # systemd logs the bad first word and keeps the unit.
            result.problem = ExecProblem(f'Unbalanced quoting, ignoring: "{rvalue}"', False)
            return result
        if warning:
            result.warnings.append(warning)
        if first is None:
            return result
        if first == ";":
            continue
        word, flags = _strip_prefixes(first)
        ignore = bool(flags & ExecFlag.IGNORE_FAILURE)
        suffix = ", ignoring" if ignore else ""
        message = _check_path(word, expand_path, suffix, rvalue)
        if isinstance(message, str):
            result.problem = ExecProblem(message, not ignore)
            return result
        path = message[0]
        argv: list[str] = [] if flags & ExecFlag.ARGV0 else [path]
        semicolon = False
        while splitter.pos < len(value):
            rest = splitter.rest
            if rest[0] == ";" and (len(rest) == 1 or rest[1] in WHITESPACE):
                splitter.pos += 1
                splitter.skip_separators()
                semicolon = True
                break
            if rest.startswith("\\;") and (len(rest) == 2 or rest[2] in WHITESPACE):
                splitter.pos += 2
                splitter.skip_separators()
                argv.append(";")
                continue
            try:
                arg, warning = splitter.next_relaxed()
            except ValueError:
                result.problem = ExecProblem(f'Unbalanced quoting, ignoring: "{rvalue}"', not ignore)
                return result
            if warning:
                result.warnings.append(warning)
            if arg is None:
                break
            try:
                argv.append(expand_arg(arg))
            except ValueError as e:
                result.problem = ExecProblem(f"Failed to resolve unit specifiers in {arg}{suffix}: {e}", not ignore)
                return result
        if not argv:
            result.problem = ExecProblem(f"Empty executable name or zeroeth argument{suffix}: {rvalue}", not ignore)
            return result
        result.commands.append(ExecCommand(_simplify(path), tuple(argv), flags, source, line))
        if not semicolon:
            return result
        rvalue = splitter.rest


def _check_path(word: str, expand_path: Expand, suffix: str, rvalue: str) -> tuple[str] | str:
    """(path,) for a usable executable, else systemd's message about it."""
    try:
        path = expand_path(word)
    except ValueError as e:
        return f"Failed to resolve unit specifiers in '{word}'{suffix}: {e}"
    if not path:
        return f"Empty path in command line{suffix}: '{rvalue}'"
    if not _is_safe(path):
        return f"Executable name contains special characters{suffix}: {path}"
    if path.endswith("/"):
        return f"Executable path specifies a directory{suffix}: {path}"
    if not _path_is_valid(path):
        return f"Neither a valid executable name nor an absolute path{suffix}: {path}"
    return (path,)


# ---------------------------------------------------------------------------------------------
# Environment

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def env_name_is_valid(name: str) -> bool:
    return bool(_ENV_NAME.fullmatch(name)) and len(name) < 4096


def env_value_is_valid(value: str) -> bool:
    return all(c >= " " or c in "\t\n" for c in value) and "\x7f" not in value


def parse_environment(value: str, expand: Expand) -> tuple[list[tuple[str, str]], list[str]]:
    """Environment=: quoted `NAME=value` words -> (assignments in order, problems).

    `expand` expands specifiers and raises ValueError(errno text) when it cannot.
    """
    assignments: list[tuple[str, str]] = []
    problems: list[str] = []
    splitter = WordSplitter(value, Extract.UNQUOTE | Extract.CUNESCAPE)
    while True:
        try:
            word = splitter.next()
        except ValueError:
            problems.append(f"Invalid syntax, ignoring: {value}")
            return assignments, problems
        if word is None:
            return assignments, problems
        try:
            word = expand(word)
        except ValueError as e:
            # `expand` raises with the errno text as its message.
            problems.append(f"Failed to resolve specifiers in {word}, ignoring: {e}")
            continue
        name, eq, val = word.partition("=")
        if not eq or not env_name_is_valid(name) or not env_value_is_valid(val):
            problems.append(f"Invalid environment assignment, ignoring: {word}")
            continue
        assignments.append((name, val))


def argv_bytes(command: ExecCommand) -> list[bytes]:
    """argv as the exact bytes to pass to exec (escapes like \\xff produce non-UTF-8 bytes)."""
    return [os.fsencode(a) for a in command.argv]
