"""DevicePolicy=/DeviceAllow= on the unified hierarchy: a BPF_PROG_TYPE_CGROUP_DEVICE program on
the unit's cgroup, as systemd 252 attaches one where there is no v1 devices controller.

The program gets the access (type, major, minor, and whether it is a read, write or mknod) and
answers 1 when one of the allowed entries covers it, 0 otherwise. The entries are the devices.allow
lines the v1 path writes (core/cgroup_devices.py): "c 1:3 rwm", "c 136:* rw", "b *:* r".
"""

from __future__ import annotations

import os

from sysmasterd.core import bpf
from sysmasterd.core.bpf import (
    EXIT,
    R0,
    R1,
    R2,
    R3,
    R4,
    R5,
    and32_imm,
    count,
    jne_imm,
    load_word,
    mov32_imm,
    mov32_reg,
    rsh32_imm,
)

_PROG_TYPE_CGROUP_DEVICE, _ATTACH_CGROUP_DEVICE = 15, 6
_TYPES = {"b": 1, "c": 2}  # BPF_DEVCG_DEV_BLOCK, BPF_DEVCG_DEV_CHAR
_ACCESS = {"m": 1, "r": 2, "w": 4}  # BPF_DEVCG_ACC_MKNOD, _READ, _WRITE


def _entry(line: str) -> bytes:
    """The test of one allow line: fall through (to the next one) unless it covers the access."""
    kind, numbers, rights = line.split()
    major, _, minor = numbers.partition(":")
    access = sum(_ACCESS[r] for r in set(rights))
    tests: list[tuple[int, int]] = [(R2, _TYPES[kind])]
    if major != "*":
        tests.append((R4, int(major)))
    if minor != "*":
        tests.append((R5, int(minor)))
    # R1 = the access asked for, less what this entry grants: anything left means no.
    verdict = mov32_reg(R1, R3) + and32_imm(R1, ~access & 0xFFFF)
    tail = jne_imm(R1, 0, 2) + mov32_imm(R0, 1) + EXIT
    code = verdict + tail
    for register, value in reversed(tests):
        code = jne_imm(register, value, count(code)) + code
    return code


def compile_program(lines: list[str]) -> bytes:
    code = (load_word(R2, R1, 0) + and32_imm(R2, 0xFFFF) + load_word(R3, R1, 0) + rsh32_imm(R3, 16)
            + load_word(R4, R1, 4) + load_word(R5, R1, 8))
    for line in lines:
        code += _entry(line)
    return code + mov32_imm(R0, 0) + EXIT


def install(cgroup: str, lines: list[str]) -> int:
    """Attach the program for these allow lines to the cgroup (a cgroup2 directory) in place of
    what was there; returns its fd, which the caller keeps. Raises OSError."""
    prog = bpf.load(_PROG_TYPE_CGROUP_DEVICE, compile_program(lines), b"sd_devices")
    cg = os.open(cgroup, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        bpf.detach_all(cg, _ATTACH_CGROUP_DEVICE)
        bpf.attach(cg, prog, _ATTACH_CGROUP_DEVICE)
    except BaseException:
        os.close(prog)
        raise
    finally:
        os.close(cg)
    return prog
