"""Whole rule sets: Debian's stock rules, the fuzz corpora, file discovery and the cache."""

from __future__ import annotations

import glob
import os
import re
import subprocess
import sys
import time

import pytest
from udev_rules_helpers import CORPUS_DIR, STOCK_DIR, compile_rules

from udev_rules_translator import ResolveNames, compile_text, load_rules, rules_changed
from udev_rules_translator.compiler import link
from udev_rules_translator.files import list_rules_files

needs_stock = pytest.mark.skipif(not os.path.isdir(STOCK_DIR), reason="Debian's udev rules not installed")


def hand_count(paths: list[str]) -> tuple[int, int]:
    """Lines and tokens counted without the translator: every logical line with KEY OP "value"
    pairs is a rule line and every pair but GOTO/LABEL a token (udevd logs no problem with
    these files, so it keeps them all)."""
    pair = re.compile(r'([A-Z]+)(\{[^}]*\})?\s*(==|!=|\+=|-=|:=|=)\s*e?"')
    lines = tokens = 0
    for path in paths:
        with open(path) as f:
            text = f.read().replace("\\\n", "")
        for raw in text.splitlines():
            stripped = raw.strip()
            if not stripped or stripped.startswith("#"):
                continue
            keys = [m.group(1) for m in pair.finditer(stripped)]
            if keys:
                lines += 1
                tokens += sum(k not in ("GOTO", "LABEL") for k in keys)
    return lines, tokens


@needs_stock
def test_stock_rules_compile_without_any_diagnostic_and_counts_match(tmp_path: object) -> None:
    loaded = load_rules([STOCK_DIR], cache_path=None)
    paths = sorted(glob.glob(os.path.join(STOCK_DIR, "*.rules")))
    assert [s.path for s in loaded.rules.sources] == paths
    assert [str(d) for d in loaded.diagnostics] == []
    assert (len(loaded.rules.lines), loaded.rules.token_count) == hand_count(paths)
    gotos = [line for line in loaded.rules.lines if line.goto_label is not None]
    assert gotos and all(loaded.rules.lines[g.goto].label == g.goto_label for g in gotos)  # type: ignore[index]


def corpus_files() -> list[str]:
    return sorted(glob.glob(os.path.join(CORPUS_DIR, "*")))


@pytest.mark.skipif(not corpus_files(), reason="fuzz corpus not available")
@pytest.mark.parametrize("path", corpus_files(), ids=os.path.basename)
def test_fuzz_corpus_is_handled(path: str) -> None:
    with open(path, "rb") as f:
        data = f.read()
    start = time.monotonic()
    compiled = compile_text(path, data)  # the machine's users and groups, like udevd
    assert time.monotonic() - start < 2
    if os.path.basename(path) == "line-too-long":
        assert [(d.line, d.severity.label, d.message) for d in compiled.diagnostics] == [
            (1, "error", "Line is too long, ignored")
        ]
    if os.path.basename(path).endswith(".rules"):
        assert [str(d) for d in compiled.diagnostics] == []


def write(path: str, text: str = 'KERNEL=="x", RUN+="y"\n') -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def test_file_order_overrides_and_masks(tmp_path: os.PathLike[str]) -> None:
    etc, lib = os.path.join(tmp_path, "etc"), os.path.join(tmp_path, "lib")
    write(os.path.join(lib, "10-a.rules"), 'TAG+="lib-a"\n')
    write(os.path.join(etc, "10-a.rules"), 'TAG+="etc-a"\n')
    write(os.path.join(lib, "20-b.rules"), 'TAG+="lib-b"\n')
    write(os.path.join(etc, "20-b.rules"), "")  # empty: masks lib's
    write(os.path.join(lib, "30-c.rules"), 'TAG+="lib-c"\n')
    os.symlink("/dev/null", os.path.join(etc, "30-c.rules"))
    write(os.path.join(etc, "05-e.rules"), 'TAG+="etc-e"\n')
    write(os.path.join(lib, "50-f.rules"), 'TAG+="lib-f"\n')
    os.symlink(os.path.join(tmp_path, "nowhere"), os.path.join(etc, "50-f.rules"))  # dangling: masks
    write(os.path.join(lib, "60-g.rules"), 'TAG+="lib-g"\n')
    os.makedirs(os.path.join(etc, "60-g.rules"))  # even a directory takes the name
    write(os.path.join(lib, ".hidden.rules"), 'TAG+="hidden"\n')
    write(os.path.join(lib, "40-d.conf"), 'TAG+="conf"\n')
    files = list_rules_files([etc, lib])
    assert [os.path.relpath(f.path, tmp_path) for f in files] == [
        "etc/05-e.rules",
        "etc/10-a.rules",
        "etc/20-b.rules",
        "etc/30-c.rules",
        "etc/50-f.rules",
        "etc/60-g.rules",
    ]
    loaded = load_rules([etc, lib], cache_path=None)
    assert [line.tokens[0].value for line in loaded.rules.lines] == ["etc-e", "etc-a"]


def test_cache_is_used_while_fresh_and_refreshed_on_change(tmp_path: os.PathLike[str]) -> None:
    rules_dir = os.path.join(tmp_path, "rules")
    cache = os.path.join(tmp_path, "cache", "rules.cache")
    write(os.path.join(rules_dir, "10-a.rules"), 'TAG+="one"\n')
    first = load_rules([rules_dir], cache_path=cache)
    assert not first.from_cache and os.path.exists(cache)
    assert os.stat(cache).st_mode & 0o077 == 0
    second = load_rules([rules_dir], cache_path=cache)
    assert second.from_cache and second.rules == first.rules
    assert not rules_changed(second)
    write(os.path.join(rules_dir, "10-a.rules"), 'TAG+="two", TAG+="three"\n')
    assert rules_changed(second)
    third = load_rules([rules_dir], cache_path=cache)
    assert not third.from_cache and [t.value for t in third.rules.lines[0].tokens] == ["two", "three"]
    write(os.path.join(rules_dir, "20-b.rules"), 'TAG+="new file"\n')
    assert not load_rules([rules_dir], cache_path=cache).from_cache


def test_damaged_or_foreign_cache_is_ignored(tmp_path: os.PathLike[str]) -> None:
    rules_dir = os.path.join(tmp_path, "rules")
    cache = os.path.join(tmp_path, "rules.cache")
    write(os.path.join(rules_dir, "10-a.rules"))
    load_rules([rules_dir], cache_path=cache)
    with open(cache, "r+b") as f:
        f.seek(40)
        f.write(b"garbage")
    assert not load_rules([rules_dir], cache_path=cache).from_cache
    os.chmod(cache, 0o666)  # writable by others: never unpickled
    assert not load_rules([rules_dir], cache_path=cache).from_cache
    assert load_rules([rules_dir], cache_path=cache).from_cache  # rewritten with a safe mode


def test_unwritable_cache_location_is_not_an_error(tmp_path: os.PathLike[str]) -> None:
    rules_dir = os.path.join(tmp_path, "rules")
    write(os.path.join(rules_dir, "10-a.rules"))
    blocker = os.path.join(tmp_path, "file")
    write(blocker, "")
    loaded = load_rules([rules_dir], cache_path=os.path.join(blocker, "sub", "cache"))
    assert len(loaded.rules.lines) == 1 and not loaded.from_cache


@needs_stock
def test_cache_loads_in_another_process(tmp_path: os.PathLike[str]) -> None:
    cache = os.path.join(tmp_path, "rules.cache")
    load_rules([STOCK_DIR], cache_path=cache)
    code = (
        "import sys; from udev_rules_translator import load_rules; "
        f"r = load_rules([{STOCK_DIR!r}], cache_path={cache!r}); "
        "print(r.from_cache, len(r.rules.lines), r.rules.token_count)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))),
    )
    loaded = load_rules([STOCK_DIR], cache_path=None)
    assert out.stdout.split() == ["True", str(len(loaded.rules.lines)), str(loaded.rules.token_count)]


def test_static_node_lines_are_indexed_across_files() -> None:
    compiled = compile_rules('KERNEL=="kvm", GROUP="disk", MODE="0660", OPTIONS+="static_node=kvm"\nTAG+="x"\n')
    rules = link([compiled, compiled], (), ResolveNames.EARLY)
    assert rules.static_nodes == (0, 2)


@pytest.mark.parametrize(
    "data",
    [
        b'GOTO="x"\n' * 8000,
        (b'KERNEL=="' + b"a|" * 5000 + b'", GOTO="l"\n') * 3 + b'LABEL="l"\n',
        b'RUN+="' + b"$" * 16000 + b'"\n',
        b"KERNEL" + b"{" * 16000 + b"\n",
        (b'ATTR{x}=="' + b"[" * 8000 + b'", RUN+="y"\n') * 2,
        b"\\\n" * 20000,
        b"\r\n\0" * 20000,
    ],
    ids=["many-gotos", "many-alternatives", "many-dollars", "many-braces", "many-brackets", "continuations", "eols"],
)
def test_pathological_input_compiles_quickly(data: bytes) -> None:
    start = time.monotonic()
    compile_rules(data)
    assert time.monotonic() - start < 2
