"""`translate` output means the same program as its source, and loads cleanly."""

from __future__ import annotations

import glob
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from udev_rules_helpers import STOCK_DIR, compile_rules

from udev_rules_translator import CompiledFile
from udev_rules_translator.translate import translate_text


def program(compiled: CompiledFile) -> list[object]:
    return [(ln.flags, ln.tokens, ln.label, ln.goto_label, ln.goto) for ln in compiled.lines]


def round_trip(data: bytes) -> tuple[CompiledFile, CompiledFile]:
    original = compile_rules(data)
    text = translate_text(original.path, data).text
    return original, compile_rules(text.encode("utf-8", "surrogateescape"))


@pytest.mark.skipif(not os.path.isdir(STOCK_DIR), reason="Debian's udev rules not installed")
@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(STOCK_DIR, "*.rules"))), ids=os.path.basename)
def test_stock_rules_translate_to_the_same_program(path: str) -> None:
    with open(path, "rb") as f:
        original, again = round_trip(f.read())
    assert program(again) == program(original)


_PIECES = st.sampled_from(
    [
        b'KERNEL=="sd*|"',
        b'ATTR{size}=="?*"',
        b'ENV{A}+="$kernel %c{2+}"',
        b'RUN{builtin}+="kmod load"',
        b'IMPORT{program}="path_id"',
        b'OWNER="root"',
        b'MODE="0600"',
        b'OPTIONS+="watch"',
        b'GOTO="l"',
        b'LABEL="l"',
        b'TEST{0644}=="/x"',
        b'NAME+="eth0"',
        b'SYMLINK+=e"a\\tb"',
        b"BAD",
        b", ",
        b"\n",
        b" \\\n",
        b'TAG+="x"',
        b'PROGRAM="?*"',
        b'SECLABEL{smack}="x"',
        b'OPTIONS="link_priority=0x10"',
        b'RESULT=="a b"',
    ]
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_PIECES, max_size=25).map(b"".join))
def test_translation_is_equivalent_and_error_free(data: bytes) -> None:
    original, again = round_trip(data)
    assert program(again) == program(original)
    assert [d for d in again.diagnostics if d.severity.label == "error"] == [
        d for d in again.diagnostics if d.severity.label == "error" and "Unknown" in d.message
    ]
