"""IPAddressAllow=/IPAddressDeny=/IPAccounting= with cgroup-bpf, the way systemd 252 enforces them.

Per unit, two small programs of type BPF_PROG_TYPE_CGROUP_SKB are attached to the unit's cgroup on
the unified hierarchy (cgroup2, or the "unified" one of a hybrid host): one for ingress, checking
a packet's source address, one for egress, checking its destination. The prefixes live in
longest-prefix-match trie maps (one per address family and list); an address in the allow list
passes, else one in the deny list is dropped, else it passes; `any` is a constant verdict. With
IPAccounting= each program adds the bytes and packets it lets through to a two-slot array map,
which the bus properties IP{Ingress,Egress}{Bytes,Packets} read.

The programs are a few dozen instructions assembled here (the kernel's eBPF encoding: struct
bpf_insn, 8 bytes each) and loaded with the bpf(2) system call through ctypes: no compiler, no
library. Where the kernel refuses (no cgroup-bpf, no privilege) the caller falls back to systemd's
"firewall not supported" warning.
"""

from __future__ import annotations

import ctypes
import os
import platform
import socket
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field

from compat.model import IPPrefix

_SYS_BPF = {"x86_64": 321, "aarch64": 280, "riscv64": 280, "loongarch64": 280, "ppc64le": 361, "s390x": 351}
_MAP_CREATE, _MAP_LOOKUP_ELEM, _MAP_UPDATE_ELEM, _PROG_LOAD, _PROG_ATTACH, _PROG_DETACH = 0, 1, 2, 5, 8, 9
_PROG_GET_FD_BY_ID, _PROG_QUERY = 13, 16
_MAP_TYPE_ARRAY, _MAP_TYPE_LPM_TRIE = 2, 11
_F_NO_PREALLOC = 1
_PROG_TYPE_CGROUP_SKB = 8
_ATTACH_INGRESS, _ATTACH_EGRESS = 0, 1
_F_ALLOW_MULTI = 2
_FUNC_MAP_LOOKUP_ELEM, _FUNC_SKB_LOAD_BYTES = 1, 26
_ALLOWED, _DENIED = 1, 2
_ETH_P_IP, _ETH_P_IPV6 = 0x0800, 0x86DD
_SKB_LEN, _SKB_PROTOCOL = 0, 16  # offsets in struct __sk_buff
# Where the address a direction checks sits in the IP header: (offset, size) by family.
_V4, _V6 = int(socket.AF_INET), int(socket.AF_INET6)
_ADDRESS: dict[tuple[int, bool], tuple[int, int]] = {(_V4, True): (12, 4), (_V4, False): (16, 4),
                                                      (_V6, True): (8, 16), (_V6, False): (24, 16)}
_PROTOCOL: dict[int, int] = {_V4: _ETH_P_IP, _V6: _ETH_P_IPV6}

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


class FirewallError(OSError):
    pass


def _bpf(cmd: int, attr: bytes) -> int:
    number = _SYS_BPF.get(platform.machine())
    if number is None:
        raise FirewallError(95, "bpf(2): unknown on this architecture")
    buf = ctypes.create_string_buffer(attr.ljust(128, b"\0"), 128)
    result = _libc.syscall(number, cmd, buf, 128)
    if result < 0:
        err = ctypes.get_errno()
        raise FirewallError(err, f"bpf({cmd}): {os.strerror(err)}")
    return int(result)


def _address_of(data: ctypes.Array[ctypes.c_char]) -> int:
    return ctypes.addressof(data)


# -- instructions ---------------------------------------------------------------------------------

R0, R1, R2, R3, R4, R6, R7, R8, R9, R10 = 0, 1, 2, 3, 4, 6, 7, 8, 9, 10


def _insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


def _mov64_reg(dst: int, src: int) -> bytes:
    return _insn(0xBF, dst, src)


def _mov64_imm(dst: int, imm: int) -> bytes:
    return _insn(0xB7, dst, imm=imm)


def _mov32_imm(dst: int, imm: int) -> bytes:
    return _insn(0xB4, dst, imm=imm)


def _add64_imm(dst: int, imm: int) -> bytes:
    return _insn(0x07, dst, imm=imm)


def _or32_imm(dst: int, imm: int) -> bytes:
    return _insn(0x44, dst, imm=imm)


def _load_word(dst: int, src: int, off: int) -> bytes:
    return _insn(0x61, dst, src, off)


def _store_word_imm(dst: int, off: int, imm: int) -> bytes:
    return _insn(0x62, dst, off=off, imm=imm)


def _jne_imm(dst: int, imm: int, off: int) -> bytes:
    return _insn(0x55, dst, off=off, imm=imm)


def _jeq_imm(dst: int, imm: int, off: int) -> bytes:
    return _insn(0x15, dst, off=off, imm=imm)


def _call(function: int) -> bytes:
    return _insn(0x85, imm=function)


def _load_map(dst: int, map_fd: int) -> bytes:
    """A map's address (two instruction slots, src BPF_PSEUDO_MAP_FD)."""
    return _insn(0x18, dst, 1, imm=map_fd) + _insn(0)


def _atomic_add64(dst: int, src: int) -> bytes:
    return _insn(0xDB, dst, src)


_EXIT = _insn(0x95)


def _count(code: bytes) -> int:
    return len(code) // 8


def _lookup(map_fd: int, family: int, ingress: bool, verdict: int) -> bytes:
    """If the packet is of this family, load its address and mark `verdict` in R8 when the trie
    has a prefix holding it."""
    offset, size = _ADDRESS[family, ingress]
    body = (_mov64_reg(R1, R6) + _mov32_imm(R2, offset) + _mov64_reg(R3, R10) + _add64_imm(R3, -size)
            + _mov32_imm(R4, size) + _call(_FUNC_SKB_LOAD_BYTES)
            + _load_map(R1, map_fd) + _mov64_reg(R2, R10) + _add64_imm(R2, -size - 4)
            + _store_word_imm(R2, 0, size * 8) + _call(_FUNC_MAP_LOOKUP_ELEM)
            + _jeq_imm(R0, 0, 1) + _or32_imm(R8, verdict))
    protocol = socket.htons(_PROTOCOL[family])
    return _jne_imm(R7, protocol, _count(body)) + body


def _account(map_fd: int) -> bytes:
    """Add the packet's length to slot 0 and one to slot 1 of the accounting array."""
    out = b""
    for slot, amount in ((0, None), (1, 1)):
        value = _load_word(R1, R6, _SKB_LEN) if amount is None else _mov64_imm(R1, amount)
        tail = value + _atomic_add64(R0, R1)
        out += (_load_map(R1, map_fd) + _mov64_reg(R2, R10) + _add64_imm(R2, -4) + _store_word_imm(R2, 0, slot)
                + _call(_FUNC_MAP_LOOKUP_ELEM) + _jeq_imm(R0, 0, _count(tail)) + tail)
    return out


def compile_program(checks: Iterable[tuple[int | None, int, int]], ingress: bool, accounting_fd: int | None) -> bytes:
    """`checks`: (trie map fd or None for `any`, family, verdict). R6 skb, R7 protocol, R8 the
    verdict bits, R9 the result kept across the accounting calls."""
    code = _mov64_reg(R6, R1) + _load_word(R7, R6, _SKB_PROTOCOL) + _mov32_imm(R8, 0)
    for map_fd, family, verdict in checks:
        code += _or32_imm(R8, verdict) if map_fd is None else _lookup(map_fd, family, ingress, verdict)
    code += _mov64_imm(R9, 1) + _jne_imm(R8, _DENIED, 1) + _mov64_imm(R9, 0)  # allowed wins over denied
    if accounting_fd is not None:
        counted = _account(accounting_fd)
        code += _jeq_imm(R9, 0, _count(counted)) + counted
    return code + _mov64_reg(R0, R9) + _EXIT


# -- maps and programs ----------------------------------------------------------------------------

def _trie(prefixes: list[IPPrefix], family: int) -> int:
    size = 4 if family == _V4 else 16
    fd = _bpf(_MAP_CREATE, struct.pack("IIIII", _MAP_TYPE_LPM_TRIE, 4 + size, 8, len(prefixes), _F_NO_PREALLOC))
    for p in prefixes:
        key = ctypes.create_string_buffer(struct.pack("I", p.prefixlen) + p.address.ljust(size, b"\0")[:size])
        value = ctypes.create_string_buffer(struct.pack("Q", 1))
        _bpf(_MAP_UPDATE_ELEM, struct.pack("I4xQQQ", fd, _address_of(key), _address_of(value), 0))
    return fd


def _counters() -> int:
    return _bpf(_MAP_CREATE, struct.pack("IIIII", _MAP_TYPE_ARRAY, 4, 8, 2, 0))


def read_counters(map_fd: int) -> tuple[int, int]:
    """(bytes, packets) an accounting map holds."""
    out = []
    for slot in (0, 1):
        key = ctypes.create_string_buffer(struct.pack("I", slot))
        value = ctypes.create_string_buffer(8)
        _bpf(_MAP_LOOKUP_ELEM, struct.pack("I4xQQQ", map_fd, _address_of(key), _address_of(value), 0))
        out.append(struct.unpack("Q", value.raw)[0])
    return out[0], out[1]


def _load(code: bytes) -> int:
    insns = ctypes.create_string_buffer(code, len(code))
    license_ = ctypes.create_string_buffer(b"GPL")
    log = ctypes.create_string_buffer(65536)
    attr = struct.pack("IIQQIIQII16s", _PROG_TYPE_CGROUP_SKB, _count(code), _address_of(insns),
                       _address_of(license_), 1, len(log), _address_of(log), 0, 0, b"sd_fw")
    try:
        return _bpf(_PROG_LOAD, attr)
    except FirewallError as e:
        verifier = log.value.decode(errors="replace").strip().splitlines()
        raise FirewallError(e.errno, f"{e.strerror}{': ' + verifier[-1] if verifier else ''}") from None


def _detach_all(cg: int, kind: int) -> None:
    """Programs a previous core attached here (it died with their fds): ours are the only ones
    on a unit's cgroup, so whatever is attached goes before the new ones come."""
    ids = (ctypes.c_uint32 * 64)()
    attr = ctypes.create_string_buffer(struct.pack("IIIIQI", cg, kind, 0, 0, ctypes.addressof(ids), 64), 128)
    number = _SYS_BPF.get(platform.machine())
    if number is None or _libc.syscall(number, _PROG_QUERY, attr, 128) < 0:
        return
    count = struct.unpack_from("I", attr.raw, 24)[0]
    for prog_id in list(ids)[:count]:
        try:
            prog = _bpf(_PROG_GET_FD_BY_ID, struct.pack("I", prog_id))
        except FirewallError:
            continue
        try:
            _bpf(_PROG_DETACH, struct.pack("IIII", cg, prog, kind, 0))
        except FirewallError:
            pass
        finally:
            os.close(prog)


@dataclass
class Firewall:
    """One unit's programs, attached to its cgroup, and its accounting maps."""

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
                try:
                    _bpf(_PROG_DETACH, struct.pack("IIII", cg, prog, kind, 0))
                except FirewallError:
                    pass
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


def install(cgroup: str, allow: list[IPPrefix], deny: list[IPPrefix], accounting: bool) -> Firewall:
    """Build and attach both programs to the cgroup (a cgroup2 directory). Raises FirewallError."""
    wall = Firewall(cgroup)
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
            _detach_all(cg, kind)
            counters = _counters() if accounting else None
            if counters is not None:
                wall.accounting[kind] = counters
            prog = _load(compile_program(checks, kind == _ATTACH_INGRESS, counters))
            wall.programs[kind] = prog
            _bpf(_PROG_ATTACH, struct.pack("IIIII", cg, prog, kind, _F_ALLOW_MULTI, 0))
    except BaseException:
        wall.close()
        raise
    finally:
        os.close(cg)
        for fd in maps:  # the programs hold them
            os.close(fd)
    return wall
