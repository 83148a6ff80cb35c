"""Which lines an event walks, found without touching the lines that cannot match.

Matches are free of side effects up to SUBSYSTEM in udev's token order, so a line whose ACTION,
SUBSYSTEM, KERNEL or ENV key fails is skipped whole without changing the outcome. Skipping it
without reading its objects matters in a forked worker: each object read there (a reference
count changed) copies its page out of the parent, and a large rules file is hundreds of MiB of
them.
"""

from __future__ import annotations

import re
from array import array
from bisect import bisect_left
from collections.abc import Sequence
from itertools import accumulate

from udev_rules_translator.glob import is_glob
from udev_rules_translator.model import Operator, RuleLine, Token, TokenType

T = TokenType
_GUARD_TYPES = (T.M_ACTION, T.M_SUBSYSTEM)
_LISTED_WHEN_READ = frozenset({"DEVLINKS", "TAGS", "CURRENT_TAGS"})  # see LiteralEnv.rejects
_LITERAL_START = re.compile(r"[^*?\[\\]*")  # a glob's start up to its first special character


def kernel_prefix(line: RuleLine) -> str:
    """What every KERNEL name this line can match starts with ("" when that is not known)."""
    for token in line.tokens:
        if token.type is not T.M_KERNEL or token.op is not Operator.MATCH:
            continue
        value = token.pattern_body
        # a Pattern has several alternatives (or none): only single ones are worth an index
        if isinstance(value, str):
            end = _LITERAL_START.match(value).end()  # type: ignore[union-attr]
            if end:
                return value[:end]
    return ""


def env_literal(line: RuleLine) -> tuple[str, str] | None:
    """The (property, value) of the line's first ENV{property}=="value" without a glob."""
    for token in line.tokens:
        if token.type is not T.M_ENV or token.op is not Operator.MATCH or token.attr in _LISTED_WHEN_READ:
            continue
        value = token.pattern_body
        if isinstance(value, str) and not is_glob(value):
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

    def rejects(self, line: int, properties: dict[str, str]) -> bool:
        """Whether the line's literal ENV match (keys[line] >= 0) fails on these properties."""
        # read as a plain dict: a device's properties list DEVLINKS/TAGS where they are first read
        # after a change (device.Properties), and udevd reads nothing here unless the line's
        # earlier keys match; the other properties are the same either way
        value = dict.get(properties, self._names[self.keys[line]])
        start = self._ends[line - 1] if line else 0
        return not value or len(value) != self._ends[line] - start or not self._text.startswith(value, start)


class LineSelector:
    """The lines an event of an action/subsystem/kind walks (cached: a list of line indexes),
    plus the lines whose KERNEL key wants the device's name to start with a known prefix: those
    are looked up by the name in a sorted table instead of being walked one by one."""

    def __init__(self, lines: Sequence[RuleLine]) -> None:
        # plain ints (a byte each): enum.Flag arithmetic per line per event is measurably slow
        self._flags = bytes(line.flags.value for line in lines)
        # most lines of a file guard alike (SUBSYSTEM=="block"): one tuple for all of them
        # (keyed on the tokens' identities: the compiler made tokens written alike one object)
        shared: dict[tuple[int, ...], tuple[Token, ...]] = {}
        self._guards = []
        for line in lines:
            guards = tuple([t for t in line.tokens if t.type in _GUARD_TYPES])
            self._guards.append(shared.setdefault(tuple(map(id, guards)), guards))
        prefixes = [kernel_prefix(line) for line in lines]
        order = sorted((i for i, prefix in enumerate(prefixes) if prefix), key=prefixes.__getitem__)
        self._by_name = bytearray(len(lines))
        for i in order:
            self._by_name[i] = 1
        self._prefixed = array("I", order)
        # the sorted prefixes as one string and where each ends: no string object per line
        self._prefix_text = "".join(prefixes[i] for i in order)
        self._prefix_ends = array("I", accumulate(len(prefixes[i]) for i in order))
        self._lengths = sorted({len(prefixes[i]) for i in order})
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
        count = len(self._prefixed)
        found: list[int] = []
        for length in self._lengths:
            if length > len(name):
                break
            head = name[:length]
            k = bisect_left(range(count), head, key=self._prefix)
            while k < count and self._prefix(k) == head:
                found.append(self._prefixed[k])
                k += 1
        return found

    def _prefix(self, k: int) -> str:
        return self._prefix_text[self._prefix_ends[k - 1] if k else 0 : self._prefix_ends[k]]
