"""IPAddressAllow=/IPAddressDeny=/IPAccounting= with cgroup-bpf, the way systemd 252 enforces them.

Per unit, two small programs of type BPF_PROG_TYPE_CGROUP_SKB are attached to the unit's cgroup on
the unified hierarchy (cgroup2, or the "unified" one of a hybrid host): one for ingress, checking
a packet's source address, one for egress, checking its destination. The prefixes live in
longest-prefix-match trie maps (one per address family and list); an address in the allow list
passes, else one in the deny list is dropped, else it passes; `any` is a constant verdict. With
IPAccounting= each program adds the bytes and packets it lets through to a two-slot array map,
which the bus properties IP{Ingress,Egress}{Bytes,Packets} read.

The programs are a few dozen instructions assembled here (core/bpf.py) and loaded with bpf(2).
Where the kernel refuses (no cgroup-bpf, no privilege) the caller falls back to systemd's
"firewall not supported" warning.
"""

from __future__ import annotations

import ctypes
import os
import socket
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field

from compat.model import IPPrefix
from sysmasterd.core import bpf
from sysmasterd.core.bpf import (
    EXIT,
    R0,
    R1,
    R2,
    R3,
    R4,
    R6,
    R7,
    R8,
    R9,
    R10,
    add64_imm,
    atomic_add64,
    call_helper,
    count,
    jeq_imm,
    jne_imm,
    load_map,
    load_word,
    mov32_imm,
    mov64_imm,
    mov64_reg,
    or32_imm,
    store_word_imm,
)

_MAP_TYPE_ARRAY, _MAP_TYPE_LPM_TRIE = 2, 11
_F_NO_PREALLOC = 1
_PROG_TYPE_CGROUP_SKB = 8
_ATTACH_INGRESS, _ATTACH_EGRESS = 0, 1
_FUNC_MAP_LOOKUP_ELEM, _FUNC_SKB_LOAD_BYTES = 1, 26
_ALLOWED, _DENIED = 1, 2
_ETH_P_IP, _ETH_P_IPV6 = 0x0800, 0x86DD
_SKB_LEN, _SKB_PROTOCOL = 0, 16  # offsets in struct __sk_buff
# Where the address a direction checks sits in the IP header: (offset, size) by family.
_V4, _V6 = int(socket.AF_INET), int(socket.AF_INET6)
_ADDRESS: dict[tuple[int, bool], tuple[int, int]] = {(_V4, True): (12, 4), (_V4, False): (16, 4),
                                                      (_V6, True): (8, 16), (_V6, False): (24, 16)}
_PROTOCOL: dict[int, int] = {_V4: _ETH_P_IP, _V6: _ETH_P_IPV6}


def _lookup(map_fd: int, family: int, ingress: bool, verdict: int) -> bytes:
    """If the packet is of this family, load its address and mark `verdict` in R8 when the trie
    has a prefix holding it."""
    offset, size = _ADDRESS[family, ingress]
    body = (mov64_reg(R1, R6) + mov32_imm(R2, offset) + mov64_reg(R3, R10) + add64_imm(R3, -size)
            + mov32_imm(R4, size) + call_helper(_FUNC_SKB_LOAD_BYTES)
            + load_map(R1, map_fd) + mov64_reg(R2, R10) + add64_imm(R2, -size - 4)
            + store_word_imm(R2, 0, size * 8) + call_helper(_FUNC_MAP_LOOKUP_ELEM)
            + jeq_imm(R0, 0, 1) + or32_imm(R8, verdict))
    protocol = socket.htons(_PROTOCOL[family])
    return jne_imm(R7, protocol, count(body)) + body


def _account(map_fd: int) -> bytes:
    """Add the packet's length to slot 0 and one to slot 1 of the accounting array."""
    out = b""
    for slot, amount in ((0, None), (1, 1)):
        value = load_word(R1, R6, _SKB_LEN) if amount is None else mov64_imm(R1, amount)
        tail = value + atomic_add64(R0, R1)
        out += (load_map(R1, map_fd) + mov64_reg(R2, R10) + add64_imm(R2, -4) + store_word_imm(R2, 0, slot)
                + call_helper(_FUNC_MAP_LOOKUP_ELEM) + jeq_imm(R0, 0, count(tail)) + tail)
    return out


def compile_program(checks: Iterable[tuple[int | None, int, int]], ingress: bool, accounting_fd: int | None) -> bytes:
    """`checks`: (trie map fd or None for `any`, family, verdict). R6 skb, R7 protocol, R8 the
    verdict bits, R9 the result kept across the accounting calls."""
    code = mov64_reg(R6, R1) + load_word(R7, R6, _SKB_PROTOCOL) + mov32_imm(R8, 0)
    for map_fd, family, verdict in checks:
        code += or32_imm(R8, verdict) if map_fd is None else _lookup(map_fd, family, ingress, verdict)
    code += mov64_imm(R9, 1) + jne_imm(R8, _DENIED, 1) + mov64_imm(R9, 0)  # allowed wins over denied
    if accounting_fd is not None:
        counted = _account(accounting_fd)
        code += jeq_imm(R9, 0, count(counted)) + counted
    return code + mov64_reg(R0, R9) + EXIT


# -- maps -----------------------------------------------------------------------------------------

def _trie(prefixes: list[IPPrefix], family: int) -> int:
    size = 4 if family == _V4 else 16
    fd = bpf.call(bpf.MAP_CREATE, struct.pack("IIIII", _MAP_TYPE_LPM_TRIE, 4 + size, 8, len(prefixes),
                                              _F_NO_PREALLOC))
    for p in prefixes:
        key = ctypes.create_string_buffer(struct.pack("I", p.prefixlen) + p.address.ljust(size, b"\0")[:size])
        value = ctypes.create_string_buffer(struct.pack("Q", 1))
        bpf.call(bpf.MAP_UPDATE_ELEM, struct.pack("I4xQQQ", fd, bpf.address_of(key), bpf.address_of(value), 0))
    return fd


def _counters() -> int:
    return bpf.call(bpf.MAP_CREATE, struct.pack("IIIII", _MAP_TYPE_ARRAY, 4, 8, 2, 0))


def read_counters(map_fd: int) -> tuple[int, int]:
    """(bytes, packets) an accounting map holds."""
    out = []
    for slot in (0, 1):
        key = ctypes.create_string_buffer(struct.pack("I", slot))
        value = ctypes.create_string_buffer(8)
        bpf.call(bpf.MAP_LOOKUP_ELEM, struct.pack("I4xQQQ", map_fd, bpf.address_of(key), bpf.address_of(value), 0))
        out.append(struct.unpack("Q", value.raw)[0])
    return out[0], out[1]


@dataclass
class Firewall:
    """One cgroup's programs and its accounting maps."""

    cgroup: str
    programs: dict[int, int] = field(default_factory=dict)  # attach type -> program fd
    accounting: dict[int, int] = field(default_factory=dict)  # attach type -> counters map fd

    def counters(self, ingress: bool) -> tuple[int, int] | None:
        fd = self.accounting.get(_ATTACH_INGRESS if ingress else _ATTACH_EGRESS)
        return read_counters(fd) if fd is not None else None

    def close(self) -> None:
        """Detach (if the cgroup is still there) and drop every fd."""
        try:
            cg = os.open(self.cgroup, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:
            cg = -1
        for kind, prog in self.programs.items():
            if cg >= 0:
                bpf.detach(cg, prog, kind)
            os.close(prog)
        for fd in self.accounting.values():
            os.close(fd)
        if cg >= 0:
            os.close(cg)
        self.programs.clear()
        self.accounting.clear()


def _is_any(prefixes: list[IPPrefix]) -> bool:
    """`any`: a /0 of both families, which matches every packet."""
    return {p.family for p in prefixes if p.prefixlen == 0} >= {_V4, _V6}


def install(cgroup: str, allow: list[IPPrefix], deny: list[IPPrefix], accounting: bool,
            counters: list[int] | None = None) -> Firewall:
    """Build and attach both programs to the cgroup (a cgroup2 directory). `counters`: the
    accounting maps (ingress, egress) to go on counting in, taken over. Raises OSError."""
    wall = Firewall(cgroup)
    kept = list(counters or [])
    maps: list[int] = []
    cg = os.open(cgroup, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        checks: list[tuple[int | None, int, int]] = []
        for prefixes, verdict in ((allow, _ALLOWED), (deny, _DENIED)):
            if _is_any(prefixes):
                checks.append((None, 0, verdict))
                continue
            for family in (_V4, _V6):
                mine = [p for p in prefixes if p.family == family]
                if mine:
                    maps.append(_trie(mine, family))
                    checks.append((maps[-1], family, verdict))
        for kind in (_ATTACH_INGRESS, _ATTACH_EGRESS):
            bpf.detach_all(cg, kind)
            counted = (kept.pop(0) if kept else _counters()) if accounting else None
            if counted is not None:
                wall.accounting[kind] = counted
            prog = bpf.load(_PROG_TYPE_CGROUP_SKB, compile_program(checks, kind == _ATTACH_INGRESS, counted), b"sd_fw")
            wall.programs[kind] = prog
            bpf.attach(cg, prog, kind)
    except BaseException:
        wall.close()
        raise
    finally:
        os.close(cg)
        for fd in maps + kept:  # the programs hold the maps; kept counters not wanted any more
            os.close(fd)
    return wall
