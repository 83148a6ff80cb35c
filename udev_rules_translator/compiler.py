"""Rules text -> RuleLines: lines assembled, tokens sorted, GOTOs resolved within each file."""

from __future__ import annotations

import bisect
import dataclasses
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

from udev_rules_translator import lexer
from udev_rules_translator.diagnostics import Diagnostic, DiagnosticSink
from udev_rules_translator.keys import LineBuilder
from udev_rules_translator.model import LineFlags, ResolveNames, RuleLine, RuleSet, SourceFile, Token, make_line
from udev_rules_translator.names import NameResolver


@dataclass(frozen=True)
class CompileOptions:
    resolve_names: ResolveNames = ResolveNames.EARLY
    resolver: NameResolver = dataclasses.field(default_factory=NameResolver)


@dataclass(frozen=True)
class CompiledFile:
    path: str
    lines: tuple[RuleLine, ...]  # ``goto`` indexes count from this file's first line
    diagnostics: tuple[Diagnostic, ...]


class TokenPool:
    """One object for a token written alike on many lines (SUBSYSTEM=="block"; memory: issue 15).

    Bounded, the least recently seen going first: a file of 75,000 lines with a value of their
    own each would otherwise hold all their tokens in a dict while compiling, and the dict's
    freed memory stays with the process beside the program."""

    def __init__(self, size: int = 8192) -> None:
        self._size = size
        self._tokens: OrderedDict[Token, Token] = OrderedDict()

    def share(self, token: Token) -> Token:
        found = self._tokens.get(token)
        if found is not None:
            self._tokens.move_to_end(found)
            return found
        self._tokens[token] = token
        if len(self._tokens) > self._size:
            self._tokens.popitem(last=False)
        return token


def _compile_line(line: lexer.LogicalLine, path: str, sink: DiagnosticSink, options: CompileOptions,
                  pool: TokenPool) -> RuleLine | None:
    sink.line = line.number
    builder = LineBuilder(sink, options.resolve_names, options.resolver)
    try:
        for pair in lexer.pairs(line.text):
            if not builder.handle(pair):
                return None
    except lexer.InvalidPair:
        sink.error("Invalid key/value pair, ignoring.")
        return None
    if builder.flags == LineFlags.NONE:
        sink.warning("The line takes no effect, ignoring.")
        return None
    # udevd's selection sort keeps textual order among tokens of the same type, as sorted() does;
    tokens = tuple(pool.share(t) for t in sorted(builder.tokens, key=lambda t: t.type))
    return make_line(path, line.number, builder.flags, tokens, builder.label, builder.goto_label)


def _resolve_gotos(lines: list[RuleLine], sink: DiagnosticSink) -> list[RuleLine]:
    """Point each GOTO at the first later line with its LABEL; udevd drops what is left empty."""
    result: list[RuleLine | None] = list(lines)
    labels: dict[str, list[int]] = {}
    for i, line in enumerate(lines):
        if line.label is not None:
            labels.setdefault(line.label, []).append(i)
    for i, line in enumerate(lines):
        if LineFlags.HAS_GOTO not in line.flags:
            continue
        positions = labels.get(line.goto_label or "", [])
        after = bisect.bisect_right(positions, i)
        target = positions[after] if after < len(positions) else None
        if target is not None:
            result[i] = line.with_jump(goto=target)
            continue
        sink.error(f'GOTO="{line.goto_label}" has no matching label, ignoring', line.line_number)
        flags = line.flags & ~LineFlags.HAS_GOTO
        fixed = dataclasses.replace(line.with_jump(goto_label=None), flags=flags)
        if flags & ~LineFlags.HAS_LABEL != LineFlags.NONE:
            result[i] = fixed
            continue
        sink.notice("The line takes no effect any more, dropping", line.line_number)
        result[i] = dataclasses.replace(fixed, tokens=()) if flags == LineFlags.HAS_LABEL else None
    kept = [line for line in result if line is not None]
    if len(kept) == len(lines):
        return kept
    # dropping lines shifts the indexes of the targets after them
    new_index = {id(line): n for n, line in enumerate(kept)}
    return [
        line if line.goto is None else line.with_jump(goto=new_index[id(result[line.goto])]) for line in kept
    ]


def compile_text(path: str, data: bytes, options: CompileOptions | None = None) -> CompiledFile:
    """Compile one rules file's content. Never raises on any input."""
    options = options or CompileOptions()
    sink = DiagnosticSink(path)
    lines: list[RuleLine] = []
    pool = TokenPool()
    for logical in lexer.logical_lines(data, sink):
        compiled = _compile_line(logical, path, sink, options, pool)
        if compiled is not None:
            lines.append(compiled)
    lines = _resolve_gotos(lines, sink)
    return CompiledFile(path, tuple(lines), tuple(sink.items))


def link(files: Iterable[CompiledFile], sources: tuple[SourceFile, ...], resolve_names: ResolveNames) -> RuleSet:
    """Concatenate compiled files into one program with global GOTO indexes."""
    lines: list[RuleLine] = []
    for compiled in files:
        base = len(lines)
        lines.extend(
            line if line.goto is None else line.with_jump(goto=line.goto + base) for line in compiled.lines
        )
    static = tuple(i for i, line in enumerate(lines) if LineFlags.HAS_STATIC_NODE in line.flags)
    return RuleSet(tuple(lines), sources, resolve_names, static)
