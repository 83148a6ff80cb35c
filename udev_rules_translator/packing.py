"""The compiled program as a few flat lists for pickle (the cache, and devmaster's compiler child).

Pickled object by object, each line and token left a state list or argument tuple in the
unpickler's memo until the whole program was loaded: twice the program's size at the peak, and
freed in holes between the program's objects that the process kept. Flat, the temporaries are a
few large blocks that go back whole, and each token shared between lines is stored once.
"""

from __future__ import annotations

from array import array
from typing import Any

from udev_rules_translator.model import ResolveNames, RuleLine, RuleSet, SourceFile, Token

_TOKEN_WIDTH = len(Token.__slots__)

Packed = tuple[list[object], list[object], "array[int]", tuple[SourceFile, ...], ResolveNames, tuple[int, ...]]


def pack(rules: RuleSet) -> Packed:
    """Each token's fields once; each line's filename, flags, jump, number and token count; and
    the index of every token of every line."""
    numbers: dict[int, int] = {}  # id(token): its index; the tokens live as long as ``rules``
    tokens: list[object] = []
    lines: list[object] = []
    refs = array("I")
    for line in rules.lines:
        lines += (line.filename, line.flags, line.jump, line.line_number, len(line.tokens))
        for token in line.tokens:
            number = numbers.get(id(token))
            if number is None:
                number = numbers[id(token)] = len(numbers)
                tokens.extend(getattr(token, name) for name in Token.__slots__)
            refs.append(number)
    return tokens, lines, refs, rules.sources, rules.resolve_names, rules.static_nodes


def unpack(tokens: list[Any], lines: list[Any], refs: array[int], sources: tuple[SourceFile, ...],
           resolve_names: ResolveNames, static_nodes: tuple[int, ...]) -> RuleSet:
    made = [Token(*tokens[i : i + _TOKEN_WIDTH]) for i in range(0, len(tokens), _TOKEN_WIDTH)]
    result: list[RuleLine] = []
    pos = 0
    for i in range(0, len(lines), 5):
        filename, flags, jump, line_number, count = lines[i : i + 5]
        result.append(RuleLine(filename, line_number, flags, tuple([made[k] for k in refs[pos : pos + count]]), jump))
        pos += count
    return RuleSet(tuple(result), sources, resolve_names, static_nodes)
