"""Write a rules set devmaster loads without complaint: normalized lines, problems as comments.

Each line udevd would keep is rewritten in one canonical spelling (tokens in evaluation order,
one operator each, quoting normalized); each line it would drop is kept as a comment with the
reason, so nothing is lost silently and the output compiles with zero errors.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass

from udev_rules_translator import lexer
from udev_rules_translator.compiler import CompileOptions, compile_text
from udev_rules_translator.diagnostics import Diagnostic, DiagnosticSink
from udev_rules_translator.render import line_source

HEADER = "# Translated by udev-rules-translate from {source}; edit the source, not this file.\n"


@dataclass(frozen=True)
class Translation:
    source: str
    text: str
    diagnostics: tuple[Diagnostic, ...]


def translate_text(source: str, data: bytes, options: CompileOptions | None = None) -> Translation:
    compiled = compile_text(source, data, options)
    by_line: dict[int, list[Diagnostic]] = defaultdict(list)
    for d in compiled.diagnostics:
        by_line[d.line].append(d)
    kept = {line.line_number: line for line in compiled.lines}
    out = [HEADER.format(source=source)]
    for logical in lexer.logical_lines(data, DiagnosticSink(source)):
        for d in by_line.pop(logical.number, ()):
            out.append(f"# {d.severity.label}: {d.message}\n")
        line = kept.get(logical.number)
        if line is not None:
            out.append(line_source(line) + "\n")
        else:
            out.append("# dropped: " + lexer.decode(logical.text) + "\n")
    # lines that never became logical lines (too long) still get their message
    for diagnostics in by_line.values():
        out.extend(f"# {d.severity.label}: line {d.line}: {d.message}\n" for d in diagnostics)
    return Translation(source, "".join(out), compiled.diagnostics)


def write_translation(translation: Translation, dest_dir: str) -> str:
    """Write atomically into ``dest_dir`` under the source's file name; returns the path."""
    os.makedirs(dest_dir, exist_ok=True)
    path = os.path.join(dest_dir, os.path.basename(translation.source))
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8", errors="surrogateescape") as f:
        f.write(translation.text)
    os.replace(tmp, path)
    return path
