"""Which lines an event walks, found without touching the lines that cannot match.

Matches are free of side effects up to SUBSYSTEM in udev's token order, so a line whose ACTION,
SUBSYSTEM, KERNEL or ENV key fails is skipped whole without changing the outcome. Skipping it
without reading its objects matters in a forked worker: each object read there (a reference
count changed) copies its page out of the parent, and a large rules file is hundreds of MiB of
them.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Mapping, Sequence
from itertools import accumulate

from udev_rules_translator.glob import GLOB_CHARS, is_glob
from udev_rules_translator.model import Operator, RuleLine, Token, TokenType

T = TokenType
_GUARD_TYPES = (T.M_ACTION, T.M_SUBSYSTEM)
_NOT_LITERAL = GLOB_CHARS + "\\"  # where a glob's literal start ends


def kernel_prefix(line: RuleLine) -> str:
    """What every KERNEL name this line can match starts with ("" when that is not known)."""
    for token in line.tokens:
        value = token.pattern_body
        # a Pattern has several alternatives (or none): only single ones are worth an index
        if token.type is T.M_KERNEL and token.op is Operator.MATCH and isinstance(value, str):
            end = min((i for i in map(value.find, _NOT_LITERAL) if i >= 0), default=len(value))
            if end:
                return value[:end]
    return ""


def env_literal(line: RuleLine) -> tuple[str, str] | None:
    """The (property, value) of the line's first ENV{property}=="value" without a glob."""
    for token in line.tokens:
        value = token.pattern_body
        if token.type is T.M_ENV and token.op is Operator.MATCH and isinstance(value, str) and not is_glob(value):
            return token.attr or "", value
    return None


class LiteralEnv:
    """Each line's literal ENV match, checked on arrays and one string before the line is read.

    A property can change while the event runs, so this is asked when the line's turn comes. A
    file with a line per disk serial (KERNEL=="sd*", ENV{ID_SERIAL}=="...") is rejected here
    line by line without its objects being touched."""

    def __init__(self, lines: Sequence[RuleLine]) -> None:
        found = [env_literal(line) for line in lines]
        self._names = sorted({name for name, _ in filter(None, found)})
        number = {name: n for n, name in enumerate(self._names)}
        self.keys = array("i", (number[pair[0]] if pair else -1 for pair in found))  # -1: none
        values = [pair[1] if pair else "" for pair in found]
        self._ends = array("I", accumulate(map(len, values)))
        self._text = "".join(values)

    def rejects(self, line: int, properties: Mapping[str, str]) -> bool:
        """Whether the line's literal ENV match (keys[line] >= 0) fails on these properties."""
        value = properties.get(self._names[self.keys[line]])
        start = self._ends[line - 1] if line else 0
        return not value or len(value) != self._ends[line] - start or not self._text.startswith(value, start)


class LineSelector:
    """The lines an event of an action/subsystem/kind walks (cached: a list of line indexes),
    plus the lines whose KERNEL key wants the device's name to start with a known prefix: those
    are looked up by the name in a sorted table instead of being walked one by one."""

    def __init__(self, lines: Sequence[RuleLine]) -> None:
        # plain ints: enum.Flag arithmetic per line per event is measurably slow
        self._flags = [line.flags.value for line in lines]
        # most lines of a file guard alike (SUBSYSTEM=="block"): one tuple for all of them
        shared: dict[tuple[Token, ...], tuple[Token, ...]] = {}
        self._guards = [shared.setdefault(guards, guards) for guards in
                        (tuple(t for t in line.tokens if t.type in _GUARD_TYPES) for line in lines)]
        keyed = sorted((prefix, i) for i, prefix in enumerate(map(kernel_prefix, lines)) if prefix)
        self._by_name = bytearray(len(lines))
        for _, i in keyed:
            self._by_name[i] = 1
        self._prefixes = [prefix for prefix, _ in keyed]
        self._prefixed = array("I", (i for _, i in keyed))
        self._lengths = sorted({len(prefix) for prefix in self._prefixes})
        self._cache: dict[tuple[str, str | None, int], array[int]] = {}

    def select(self, action: str, subsystem: str | None, bits: int, name: str) -> Sequence[int]:
        """Indexes of the lines to walk, in order."""
        key = (action, subsystem, bits)
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = self._scan(action, subsystem, bits)
        named = [i for i in self._named(name) if self._flags[i] & bits and self._passes(i, action, subsystem)]
        return sorted([*found, *named]) if named else found

    def _passes(self, i: int, action: str, subsystem: str | None) -> bool:
        return all(t.matches(action if t.type is T.M_ACTION else subsystem) for t in self._guards[i])

    def _scan(self, action: str, subsystem: str | None, bits: int) -> array[int]:
        verdicts: dict[int, bool] = {}  # id(guards): the shared tuples are judged once
        found = array("I")
        for i, (flags, guards) in enumerate(zip(self._flags, self._guards, strict=True)):
            if not flags & bits or self._by_name[i]:
                continue
            verdict = verdicts.get(id(guards))
            if verdict is None:
                verdict = verdicts[id(guards)] = self._passes(i, action, subsystem)
            if verdict:
                found.append(i)
        return found

    def _named(self, name: str) -> list[int]:
        """Lines whose KERNEL prefix starts ``name``."""
        prefixes = self._prefixes
        found: list[int] = []
        for length in self._lengths:
            if length > len(name):
                break
            head = name[:length]
            k = bisect_left(prefixes, head)
            while k < len(prefixes) and prefixes[k] == head:
                found.append(self._prefixed[k])
                k += 1
        return found
