"""Compile hwdb.d sources into hwdb.bin (the trie format sd-hwdb and hwdb_trie read).

Same file order, record syntax, duplicate handling and on-disk layout as
systemd's hwdb-util (nodes written post-order, children sorted by byte, values
by key); strings are de-duplicated whole rather than by suffix, so the file is
larger but answers every lookup the same.
"""

import os
import struct
from dataclasses import dataclass, field

from sysmasterd.devmaster.builtin.hwdb_trie import SIGNATURE

HWDB_DIRS = ("/etc/udev/hwdb.d", "/lib/udev/hwdb.d")
_HEADER = struct.Struct("<8s9Q")
_NODE = struct.Struct("<QB7xQ")
_CHILD = struct.Struct("<B7xQ")
_VALUE = struct.Struct("<QQ")
_VALUE2 = struct.Struct("<QQQIH2x")
TOOL_VERSION = 252


@dataclass
class _Node:
    prefix: bytes
    children: dict[int, "_Node"] = field(default_factory=dict)
    # key -> (value, filename, file priority, line number)
    values: dict[bytes, tuple[bytes, bytes, int, int]] = field(default_factory=dict)


@dataclass
class Trie:
    root: _Node = field(default_factory=lambda: _Node(b""))
    diagnostics: list[str] = field(default_factory=list)

    def insert(self, search: bytes, key: bytes, entry: tuple[bytes, bytes, int, int]) -> None:
        node, i = self.root, 0
        while True:
            prefix = node.prefix
            p = 0
            while p < len(prefix):
                if i + p < len(search) and prefix[p] == search[i + p]:
                    p += 1
                    continue
                child = _Node(prefix[p + 1 :], node.children, node.values)
                node.prefix, node.children, node.values = prefix[:p], {prefix[p]: child}, {}
                break
            i += p
            if i == len(search):
                node.values[key] = entry
                return
            nxt = node.children.get(search[i])
            if nxt is None:
                node.children[search[i]] = _Node(search[i + 1 :], values={key: entry})
                return
            node, i = nxt, i + 1


def list_files(root: str = "/") -> list[str]:
    chosen: dict[str, str] = {}
    for directory in HWDB_DIRS:
        path = os.path.join(root, directory.lstrip("/"))
        try:
            names = sorted(os.listdir(path))
        except OSError:
            continue
        for name in names:
            if name.endswith(".hwdb") and name not in chosen:
                chosen[name] = os.path.join(path, name)
    return [chosen[n] for n in sorted(chosen) if os.path.realpath(chosen[n]) != "/dev/null"]


def import_text(trie: Trie, filename: str, text: bytes, priority: int) -> None:
    """One hwdb source: match lines, then indented ` KEY=VALUE` lines, records split by blank lines."""
    state, matches = "none", []
    lineno = 0
    for lineno, raw in enumerate(text.split(b"\n"), 1):
        if raw.startswith(b"#"):
            continue
        line = raw.split(b"#", 1)[0].rstrip()
        where = f"{filename}:{lineno}"
        if state == "none":
            if not line:
                continue
            if line.startswith(b" "):
                trie.diagnostics.append(f"{where}: Match expected but got indented property, ignoring line.")
                continue
            state, matches = "match", [line]
        elif state == "match" and line and not line.startswith(b" "):
            matches.append(line)
        elif not line:
            if state == "match":
                trie.diagnostics.append(f"{where}: Property expected, ignoring record with no properties.")
            state, matches = "none", []
        elif not line.startswith(b" "):
            trie.diagnostics.append(f"{where}: Property or empty line expected, ignoring record.")
            state, matches = "none", []
        else:
            state = "data"
            _insert_data(trie, matches, line, filename, priority, lineno)
    if state == "match":
        trie.diagnostics.append(f"{filename}:{lineno}: Property expected, ignoring record with no properties.")


def _insert_data(trie: Trie, matches: list[bytes], line: bytes, filename: str, priority: int,
                 lineno: int) -> None:
    key, sep, value = line.partition(b"=")
    if not sep:
        trie.diagnostics.append(f"{filename}:{lineno}: Key-value pair expected, ignoring.")
        return
    key = b" " + key.lstrip(b" \t")
    if key == b" ":
        trie.diagnostics.append(f"{filename}:{lineno}: Empty key, ignoring.")
        return
    for match in matches:
        trie.insert(match, key, (value, filename.encode(), priority, lineno))


class _Strings:
    def __init__(self) -> None:
        self.buf = bytearray(b"\0")
        self.offsets: dict[bytes, int] = {b"": 0}

    def add(self, text: bytes) -> int:
        off = self.offsets.get(text)
        if off is None:
            off = self.offsets[text] = len(self.buf)
            self.buf += text + b"\0"
        return off


def serialize(trie: Trie, compat: bool = False) -> bytes:
    """hwdb.bin bytes. The default is systemd-hwdb's format, whose file priorities and line numbers
    decide between duplicates; `compat` is the older udevadm hwdb format without them."""
    strings = _Strings()
    value_size = _VALUE.size if compat else _VALUE2.size
    nodes = bytearray()

    def size(node: _Node) -> int:
        own = _NODE.size + len(node.children) * _CHILD.size + len(node.values) * value_size
        return own + sum(size(c) for c in node.children.values())

    strings_off = _HEADER.size + size(trie.root)

    def store(node: _Node) -> int:
        children = [(c, store(node.children[c])) for c in sorted(node.children)]
        off = _HEADER.size + len(nodes)
        nodes.extend(_NODE.pack(strings_off + strings.add(node.prefix), len(children), len(node.values)))
        for c, child_off in children:
            nodes.extend(_CHILD.pack(c, child_off))
        for key in sorted(node.values):
            value, filename, priority, lineno = node.values[key]
            k, v = strings_off + strings.add(key), strings_off + strings.add(value)
            if compat:
                nodes.extend(_VALUE.pack(k, v))
            else:
                nodes.extend(_VALUE2.pack(k, v, strings_off + strings.add(filename), lineno, priority))
        return off

    root_off = store(trie.root)
    total = _HEADER.size + len(nodes) + len(strings.buf)
    header = _HEADER.pack(SIGNATURE, TOOL_VERSION, total, _HEADER.size, _NODE.size, _CHILD.size, value_size,
                          root_off, len(nodes), len(strings.buf))
    return header + bytes(nodes) + bytes(strings.buf)


def compile_root(root: str = "/") -> tuple[bytes | None, list[str]]:
    """hwdb.bin for the sources under `root`; None when there are none (the file is then removed)."""
    trie = Trie()
    files = list_files(root)
    for priority, path in enumerate(files, 1):
        with open(path, "rb") as f:
            import_text(trie, path, f.read(), priority)
    return (serialize(trie) if files else None), trie.diagnostics
