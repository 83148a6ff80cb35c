"""Reader of the compiled hardware database (hwdb.bin, sd-hwdb's trie format)."""

import logging
import mmap
import os
import struct
from functools import cache

from udev_rules_translator.glob import fnmatch

_SPECIAL = frozenset("?[\\")
log = logging.getLogger("devmaster")


def glob_match(pattern: str, text: str) -> bool:
    """fnmatch(3) for a hwdb key. Most keys only use `*`: those are matched piece by piece,
    leftmost first (always right when `*` is the only wildcard), without compiling a regex.
    A fresh worker meets hundreds of such keys once each during coldplug."""
    if _SPECIAL.isdisjoint(pattern):
        if "*" not in pattern:
            return pattern == text
        head, *middle, tail = pattern.split("*")
        if len(text) < len(head) + len(tail) or not text.startswith(head) or not text.endswith(tail):
            return False
        pos, end = len(head), len(text) - len(tail)
        for piece in middle:
            found = text.find(piece, pos, end)
            if found < 0:
                return False
            pos = found + len(piece)
        return True
    return fnmatch(pattern, text)

# sd-hwdb's list: Debian's split-usr build (the /lib paths) comes before a merged-usr one, so
# that on Debian the "Trying to open" trace of `devctl test` names the file udevadm names
HWDB_PATHS = ("/etc/systemd/hwdb/hwdb.bin", "/etc/udev/hwdb.bin", "/usr/lib/systemd/hwdb/hwdb.bin",
              "/lib/systemd/hwdb/hwdb.bin", "/lib/udev/hwdb.bin", "/usr/lib/udev/hwdb.bin")
SIGNATURE = b"KSLPHHRH"
_HEADER = struct.Struct("<8s9Q")
_NODE = struct.Struct("<QB7xQ")
_CHILD = struct.Struct("<B7xQ")
_VALUE2 = struct.Struct("<QQQIH2x")


class HwdbError(OSError):
    pass


class Hwdb:
    def __init__(self, path: str) -> None:
        with open(path, "rb") as f:
            self.data = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
        self.path = path
        st = os.stat(path)
        self.stamp = (st.st_mtime_ns, st.st_size)
        (sig, tool, size, header_size, self.node_size, self.child_size, self.value_size,
         self.root, nodes_len, strings_len) = _HEADER.unpack_from(self.data)
        if sig != SIGNATURE or size != len(self.data):
            raise HwdbError(22, f"{path}: not a hwdb.bin file")
        log.debug("=== trie on-disk ===\ntool version:          %d\nfile size:        %8d bytes\n"
                  "header size       %8d bytes\nstrings           %8d bytes\nnodes             %8d bytes",
                  tool, st.st_size, header_size, strings_len, nodes_len)

    def _string(self, off: int) -> bytes:
        end = self.data.find(b"\0", off)
        return self.data[off:end]

    def _node(self, off: int) -> tuple[bytes, list[tuple[int, int]], int, int]:
        prefix_off, nchildren, nvalues = _NODE.unpack_from(self.data, off)
        base = off + self.node_size
        children = [_CHILD.unpack_from(self.data, base + i * self.child_size) for i in range(nchildren)]
        values_off = base + nchildren * self.child_size
        return (self._string(prefix_off) if prefix_off else b""), children, nvalues, values_off

    def _child(self, children: list[tuple[int, int]], c: int) -> int | None:
        for ch, off in children:
            if ch == c:
                return off
        return None

    def _add_values(self, props: dict[str, tuple[str, int, int]], nvalues: int, values_off: int) -> None:
        for i in range(nvalues):
            entry = values_off + i * self.value_size
            key_off, value_off = struct.unpack_from("<QQ", self.data, entry)
            key = self._string(key_off).decode(errors="replace")
            if not key.startswith(" "):
                continue
            key = key[1:]
            prio = line = 0
            if self.value_size >= _VALUE2.size:
                _, _, filename_off, line, prio = _VALUE2.unpack_from(self.data, entry)
                if prio == 0:
                    prio = filename_off
            old = props.get(key)
            if old is not None and (prio, line) < (old[1], old[2]):
                continue
            props.pop(key, None)
            props[key] = (self._string(value_off).decode(errors="replace"), prio, line)

    def _fnmatch(self, props: dict[str, tuple[str, int, int]], off: int, p: int, buf: bytes,
                 search: bytes) -> None:
        prefix, children, nvalues, values_off = self._node(off)
        buf += prefix[p:]
        for c, child in children:
            self._fnmatch(props, child, 0, buf + bytes([c]), search)
        if nvalues and glob_match(buf.decode(errors="replace"), search.decode(errors="replace")):
            self._add_values(props, nvalues, values_off)

    def lookup(self, modalias: str) -> dict[str, str]:
        search = modalias.encode()
        props: dict[str, tuple[str, int, int]] = {}
        off: int | None = self.root
        i = 0
        while off is not None:
            prefix, children, nvalues, values_off = self._node(off)
            for p, c in enumerate(prefix):
                if c in b"*?[":
                    self._fnmatch(props, off, p, b"", search[i + p :])
                    return {k: v[0] for k, v in props.items()}
                if i + p >= len(search) or c != search[i + p]:
                    return {k: v[0] for k, v in props.items()}
            i += len(prefix)
            for glob in b"*?[":
                child = self._child(children, glob)
                if child is not None:
                    self._fnmatch(props, child, 0, bytes([glob]), search[i:])
            if i >= len(search):
                self._add_values(props, nvalues, values_off)
                break
            off = self._child(children, search[i])
            i += 1
        return {k: v[0] for k, v in props.items()}


def find_hwdb(trace: bool = False) -> str | None:
    """The first hwdb.bin of the search list; trace: log each try, as sd_hwdb_new() does."""
    for path in HWDB_PATHS:
        if trace:
            log.debug('Trying to open "%s"...', path)
        if os.path.exists(path):
            return path
    return None


@cache
def _open(path: str, stamp: tuple[int, int]) -> Hwdb:
    return Hwdb(path)


def open_hwdb(path: str | None = None) -> Hwdb | None:
    path = path or find_hwdb()
    if path is None:
        return None
    st = os.stat(path)
    return _open(path, (st.st_mtime_ns, st.st_size))
