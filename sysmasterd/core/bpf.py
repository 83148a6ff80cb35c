"""The bpf(2) system call and the eBPF instruction encoding, for the few small cgroup programs the
manager attaches (core/bpf_firewall.py, core/bpf_devices.py), through ctypes: no compiler, no
library. Each instruction is the kernel's struct bpf_insn, 8 bytes: opcode, the two registers
(destination in the low nibble), a 16-bit offset and a 32-bit immediate.
"""

from __future__ import annotations

import ctypes
import os
import platform
import struct

_SYS_BPF = {"x86_64": 321, "aarch64": 280, "riscv64": 280, "loongarch64": 280, "ppc64le": 361, "s390x": 351}
MAP_CREATE, MAP_LOOKUP_ELEM, MAP_UPDATE_ELEM, PROG_LOAD, PROG_ATTACH, PROG_DETACH = 0, 1, 2, 5, 8, 9
_PROG_GET_FD_BY_ID, _PROG_QUERY = 13, 16
F_ALLOW_MULTI = 2

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


class BPFError(OSError):
    pass


def call(cmd: int, attr: bytes) -> int:
    """bpf(cmd, attr): the result (an fd for the creating commands). Raises BPFError."""
    number = _SYS_BPF.get(platform.machine())
    if number is None:
        raise BPFError(95, "bpf(2): unknown on this architecture")
    buf = ctypes.create_string_buffer(attr.ljust(128, b"\0"), 128)
    result = _libc.syscall(number, cmd, buf, 128)
    if result < 0:
        err = ctypes.get_errno()
        raise BPFError(err, f"bpf({cmd}): {os.strerror(err)}")
    return int(result)


def address_of(data: ctypes.Array[ctypes.c_char]) -> int:
    return ctypes.addressof(data)


# -- instructions ---------------------------------------------------------------------------------

R0, R1, R2, R3, R4, R5, R6, R7, R8, R9, R10 = range(11)


def insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


def mov64_reg(dst: int, src: int) -> bytes:
    return insn(0xBF, dst, src)


def mov64_imm(dst: int, imm: int) -> bytes:
    return insn(0xB7, dst, imm=imm)


def mov32_imm(dst: int, imm: int) -> bytes:
    return insn(0xB4, dst, imm=imm)


def mov32_reg(dst: int, src: int) -> bytes:
    return insn(0xBC, dst, src)


def add64_imm(dst: int, imm: int) -> bytes:
    return insn(0x07, dst, imm=imm)


def and32_imm(dst: int, imm: int) -> bytes:
    return insn(0x54, dst, imm=imm)


def or32_imm(dst: int, imm: int) -> bytes:
    return insn(0x44, dst, imm=imm)


def rsh32_imm(dst: int, imm: int) -> bytes:
    return insn(0x74, dst, imm=imm)


def load_word(dst: int, src: int, off: int) -> bytes:
    return insn(0x61, dst, src, off)


def store_word_imm(dst: int, off: int, imm: int) -> bytes:
    return insn(0x62, dst, off=off, imm=imm)


def jne_imm(dst: int, imm: int, off: int) -> bytes:
    return insn(0x55, dst, off=off, imm=imm)


def jeq_imm(dst: int, imm: int, off: int) -> bytes:
    return insn(0x15, dst, off=off, imm=imm)


def call_helper(function: int) -> bytes:
    return insn(0x85, imm=function)


def load_map(dst: int, map_fd: int) -> bytes:
    """A map's address (two instruction slots, src BPF_PSEUDO_MAP_FD)."""
    return insn(0x18, dst, 1, imm=map_fd) + insn(0)


def atomic_add64(dst: int, src: int) -> bytes:
    return insn(0xDB, dst, src)


EXIT = insn(0x95)


def count(code: bytes) -> int:
    return len(code) // 8


# -- programs -------------------------------------------------------------------------------------

def load(prog_type: int, code: bytes, name: bytes) -> int:
    """The loaded program's fd; a refusal carries the verifier's last line."""
    insns = ctypes.create_string_buffer(code, len(code))
    license_ = ctypes.create_string_buffer(b"GPL")
    log = ctypes.create_string_buffer(65536)
    attr = struct.pack("IIQQIIQII16s", prog_type, count(code), address_of(insns), address_of(license_), 1,
                       len(log), address_of(log), 0, 0, name)
    try:
        return call(PROG_LOAD, attr)
    except BPFError as e:
        verifier = log.value.decode(errors="replace").strip().splitlines()
        raise BPFError(e.errno, f"{e.strerror}{': ' + verifier[-1] if verifier else ''}") from None


def attach(cgroup_fd: int, prog: int, attach_type: int) -> None:
    call(PROG_ATTACH, struct.pack("IIIII", cgroup_fd, prog, attach_type, F_ALLOW_MULTI, 0))


def detach(cgroup_fd: int, prog: int, attach_type: int) -> None:
    try:
        call(PROG_DETACH, struct.pack("IIII", cgroup_fd, prog, attach_type, 0))
    except BPFError:
        pass


def detach_all(cgroup_fd: int, attach_type: int) -> None:
    """Programs a previous core attached here (it died with their fds): ours are the only ones
    on a unit's cgroup, so whatever is attached goes before new ones come."""
    ids = (ctypes.c_uint32 * 64)()
    attr = ctypes.create_string_buffer(struct.pack("IIIIQI", cgroup_fd, attach_type, 0, 0, ctypes.addressof(ids), 64),
                                       128)
    number = _SYS_BPF.get(platform.machine())
    if number is None or _libc.syscall(number, _PROG_QUERY, attr, 128) < 0:
        return
    found = struct.unpack_from("I", attr.raw, 24)[0]
    for prog_id in list(ids)[:found]:
        try:
            prog = call(_PROG_GET_FD_BY_ID, struct.pack("I", prog_id))
        except BPFError:
            continue
        try:
            detach(cgroup_fd, prog, attach_type)
        finally:
            os.close(prog)
