"""Differential tests: the same rules through systemd-udevd 252 (`udevadm test`) and through us.

udevadm runs in private mount and network namespaces with its own sysfs, /run and rules
directories (see udev_rules_helpers), so rules under test cannot touch the host.
"""

from __future__ import annotations

import glob
import os
import pathlib
import random
import re
from collections.abc import Callable

import pytest
from test_udev_rules_keys import CASES
from udev_rules_helpers import (
    STOCK_DIR,
    Diag,
    compile_rules,
    our_diagnostics,
    require_oracle,
    udevadm_dirs_test,
    udevadm_test,
    udevd_diagnostics,
)

from udev_rules_translator import load_rules
from udev_rules_translator.files import list_rules_files

pytestmark = pytest.mark.root

Oracle = Callable[[bytes], list[Diag]]


@pytest.fixture(name="oracle")
def oracle_fixture() -> Oracle:
    require_oracle()
    return udevd_diagnostics


def matrix() -> bytes:
    """Every key x attribute x operator x value, alone and with an action on the line."""
    keys = [
        "ACTION",
        "DEVPATH",
        "KERNEL",
        "KERNELS",
        "SUBSYSTEM",
        "SUBSYSTEMS",
        "DRIVER",
        "DRIVERS",
        "ATTR",
        "ATTRS",
        "SYSCTL",
        "ENV",
        "CONST",
        "TAG",
        "TAGS",
        "TEST",
        "PROGRAM",
        "RESULT",
        "IMPORT",
        "NAME",
        "SYMLINK",
        "OWNER",
        "GROUP",
        "MODE",
        "SECLABEL",
        "RUN",
        "LABEL",
        "GOTO",
        "OPTIONS",
        "FOO",
    ]
    attrs = [None, "", "x", "arch", "program", "builtin", "file", "db", "cmdline", "parent", "0644"]
    ops = ["==", "!=", "=", "+=", "-=", ":="]
    lines = []
    for key in keys:
        for attr in attrs:
            head = key if attr is None else f"{key}{{{attr}}}"
            for op in ops:
                for value in ('"v"', '""', '"?*"', '"$kernel"'):
                    lines.append(f"{head}{op}{value}")
                    lines.append(f'{head}{op}{value}, RUN+="/bin/true"')
    return ("\n".join(lines) + '\nLABEL="v"\n').encode()


def test_every_key_attribute_operator_combination(oracle: Oracle) -> None:
    data = matrix()
    assert our_diagnostics(data) == oracle(data)


def test_key_table_cases(oracle: Oracle) -> None:
    data = ("\n".join(c[0] for c in CASES) + '\nLABEL="end"\n').encode()
    assert our_diagnostics(data) == oracle(data)


EDGES = (
    rb"""ACTION=="add", SYMLINK+="a$foo b%%z"
RUN+="$attr"
RUN+="%c{x}"
RUN+="%c{2+} $env{"
ENV{A}="%E"
OPTIONS+="link_priority=0x10"
OPTIONS+="link_priority=99999999999"
OPTIONS="log_level=9"
OPTIONS="string_escape=bogus"
OWNER="nosuchuser"
OWNER="[a/b]c"
MODE="  0660"
MODE="0999"
IMPORT{builtin}="path"
IMPORT{builtin}=""
GOTO="a", GOTO="b"
GOTO="nolabel"
GOTO="nolabel", LABEL="q"
LABEL="a"
LABEL="b"
KERNEL=="a"RUN+="x"
,,, KERNEL=="a",,RUN+="x",,
KERNEL == "a" , RUN += "x"
KERNEL=="a", RUN+=x
KERNEL{a=="x"
=="x"
RUN+=e"\x41\n\t\s"
RUN+=e"\x00"
RUN+=e"\q"
RUN+=e"\UFFFFFFFF"
RUN+=e"\400"
RUN+="a\\"
RUN+="x" \
  , RUN+="y"
   # comment
RUN+="a" \
# inner comment
RUN+="b"
ATTRS{device/foo}=="x", RUN+="y"
"""
    + b'RUN+="a"\r\nRUN+="b"\rRUN+="c"\n\rRUN+="d"\0RUN+="e"\n\nTAG="x"\\\n\\\nRUN+="y"\n'
)


def test_edge_cases(oracle: Oracle) -> None:
    assert our_diagnostics(EDGES) == oracle(EDGES)


@pytest.mark.skipif(not os.path.isdir(STOCK_DIR), reason="Debian's udev rules not installed")
def test_mutated_stock_rules(oracle: Oracle) -> None:
    """Random byte-level damage to stock rule lines: both must report the same problems."""
    rng = random.Random(252)
    source = b"".join(pathlib.Path(p).read_bytes() for p in sorted(glob.glob(os.path.join(STOCK_DIR, "*.rules"))))
    lines = [x for x in source.split(b"\n") if x.strip() and not x.startswith(b"#")]
    alphabet = b'"\\{}=!+-:,|*?[]$%e# \t\r\0\nabcKERNELATTRSGOTOLABEL'
    for _ in range(15):
        out = []
        for _ in range(150):
            line = bytearray(rng.choice(lines))
            for _ in range(rng.randint(0, 4)):
                i = rng.randint(0, len(line))
                r = rng.random()
                if r < 0.4:
                    line[i:i] = bytes([rng.choice(alphabet)])
                elif r < 0.7 and line:
                    del line[min(i, len(line) - 1)]
                else:
                    j = rng.randint(0, len(line))
                    line[i:i] = rng.choice(lines)[j : j + rng.randint(1, 20)]
            out.append(bytes(line))
        data = b"\n".join(out) + b"\n"
        assert our_diagnostics(data) == oracle(data)


def test_match_patterns_agree_with_udevd_on_values() -> None:
    """Globs, alternatives, empty alternatives and "?*" decide matches as udevd does: each rule
    pair sets a property to a value, then matches it against a pattern and records the verdict."""
    require_oracle()
    rng = random.Random(2520)
    pattern_chars = ["a", "b", "1", "*", "?", "[", "]", "!", "^", "|", "\\", "-", "[:alpha:]", "[:digit:]"]
    value_chars = ["a", "b", "1", "-", "]", "[", "!", "^", "\\", "*", "?", "|", " "]
    cases: list[tuple[str, str]] = [("?*", ""), ("?*", "a"), ("|a", ""), ("a|", "a"), ("", "")]
    while len(cases) < 500:
        pattern = "".join(rng.choice(pattern_chars) for _ in range(rng.randint(0, 7)))
        value = "".join(rng.choice(value_chars) for _ in range(rng.randint(0, 4)))
        if not pattern.endswith("\\") and not value.endswith("\\"):
            cases.append((pattern, value))
    rules = []
    for i, (pattern, value) in enumerate(cases):
        rules.append(f'ENV{{V_{i}}}="{value}"')
        rules.append(f'ENV{{V_{i}}}=="{pattern}", ENV{{T_{i}}}="1"')
    data = ("\n".join(rules) + "\n").encode()
    udevd = {int(m.group(1)) for m in re.finditer(r"^T_(\d+)=1$", udevadm_test(data), re.M)}
    ours = set()
    for line in compile_rules(data).lines:
        token = line.tokens[0]
        if token.type.name == "M_ENV" and token.attr is not None:
            i = int(token.attr[2:])
            if token.matches(cases[i][1] or None):  # an empty ENV= assignment removes the property
                ours.add(i)
    assert len(udevd) > 30
    assert sorted((cases[i], i in ours) for i in udevd ^ ours) == []


def test_file_discovery_agrees_with_udevd(tmp_path: pathlib.Path) -> None:
    """Overrides and masks: udevd's "Reading rules file" list is ours, its TAGs our tokens."""
    require_oracle()
    etc, lib = tmp_path / "etc", tmp_path / "lib"
    etc.mkdir()
    lib.mkdir()
    for name in ("10-a", "20-b", "30-c", "50-f", "60-g", "70-h", "80-i"):
        (lib / f"{name}.rules").write_text(f'TAG+="lib{name[3]}"\n')
    (etc / "10-a.rules").write_text('TAG+="etca"\n')
    (etc / "20-b.rules").write_text("")
    (etc / "30-c.rules").symlink_to("/dev/null")
    (etc / "50-f.rules").symlink_to(tmp_path / "nowhere")
    (etc / "60-g.rules").mkdir()
    (etc / "70-h.rules").symlink_to(tmp_path)
    (etc / "05-j.rules").write_text('TAG+="etcj"\n')
    (etc / ".hidden.rules").write_text('TAG+="hidden"\n')
    (etc / "90-k.rules~").write_text('TAG+="backup"\n')
    output = udevadm_dirs_test(str(etc), str(lib), "debug")

    def local(path: str) -> str:
        return path.replace("/etc/udev/rules.d", str(etc)).replace("/usr/lib/udev/rules.d", str(lib))

    read = [local(line.split(": ", 1)[1]) for line in output.splitlines() if line.startswith("Reading rules file: ")]
    # udevd also "reads" the directories that took a name, and fails on them
    assert [p for p in read if os.path.isfile(p)] == [
        f.path for f in list_rules_files([str(etc), str(lib)]) if not f.empty
    ]
    tags = re.search(r"^TAGS=:(.*):$", output, re.M)
    loaded = load_rules([str(etc), str(lib)], cache_path=None)
    assert tags is not None
    assert sorted(tags.group(1).split(":")) == sorted(str(t.value) for ln in loaded.rules.lines for t in ln.tokens)
