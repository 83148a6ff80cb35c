"""The classic BPF program libudev attaches to a monitor socket (sd_device_monitor_filter_update).

The kernel drops libudev messages whose subsystem/devtype hashes or tag bloom
cannot match before they are copied to the listener; messages without the
libudev magic (kernel uevents) pass, and are filtered in userspace as before.
"""

import ctypes
import socket
import struct
from collections.abc import Sequence

from sysmasterd.devmaster.framework.message import UDEV_MONITOR_MAGIC
from sysmasterd.devmaster.framework.murmur import string_bloom64, string_hash32

SO_ATTACH_FILTER = 26
# struct monitor_netlink_header offsets: magic, subsystem hash, devtype hash, tag bloom hi/lo
_MAGIC, _SUBSYSTEM, _DEVTYPE, _BLOOM_HI, _BLOOM_LO = 8, 24, 28, 32, 36
_LD_W_ABS, _AND_K, _JEQ_K, _RET_K = 0x20, 0x54, 0x15, 0x06
_PASS, _DROP = 0xFFFFFFFF, 0
_INSN = struct.Struct("HBBI")
Insn = tuple[int, int, int, int]


def build_filter(subsystems: Sequence[tuple[str, str | None]], tags: Sequence[str]) -> list[Insn]:
    """(code, jt, jf, k) instructions; empty when there is nothing to filter on."""
    if not subsystems and not tags:
        return []
    prog: list[Insn] = [(_LD_W_ABS, 0, 0, _MAGIC), (_JEQ_K, 1, 0, UDEV_MONITOR_MAGIC), (_RET_K, 0, 0, _PASS)]
    if tags:
        unique = list(dict.fromkeys(tags))
        left = len(unique)
        for tag in unique:
            bloom = string_bloom64(tag)
            hi, lo = bloom >> 32, bloom & 0xFFFFFFFF
            left -= 1
            prog += [(_LD_W_ABS, 0, 0, _BLOOM_HI), (_AND_K, 0, 0, hi), (_JEQ_K, 0, 3, hi),
                     (_LD_W_ABS, 0, 0, _BLOOM_LO), (_AND_K, 0, 0, lo), (_JEQ_K, 1 + left * 6, 0, lo)]
        prog.append((_RET_K, 0, 0, _DROP))
    if subsystems:
        for subsystem, devtype in dict.fromkeys(subsystems):
            prog.append((_LD_W_ABS, 0, 0, _SUBSYSTEM))
            if devtype is None:
                prog.append((_JEQ_K, 0, 1, string_hash32(subsystem)))
            else:
                prog += [(_JEQ_K, 0, 3, string_hash32(subsystem)), (_LD_W_ABS, 0, 0, _DEVTYPE),
                         (_JEQ_K, 0, 1, string_hash32(devtype))]
            prog.append((_RET_K, 0, 0, _PASS))
        prog.append((_RET_K, 0, 0, _DROP))
    prog.append((_RET_K, 0, 0, _PASS))
    return prog


def attach_filter(sock: socket.socket, prog: list[Insn]) -> None:
    """SO_ATTACH_FILTER with a struct sock_fprog pointing at the packed program."""
    if not prog:
        return
    code = ctypes.create_string_buffer(b"".join(_INSN.pack(*insn) for insn in prog))
    fprog = struct.pack("HL", len(prog), ctypes.addressof(code))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
