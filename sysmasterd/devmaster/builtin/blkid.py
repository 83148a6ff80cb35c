"""blkid builtin: filesystem and partition probing with libblkid (ctypes), as udev's builtin does.

Not implemented: ID_PART_GPT_AUTO_ROOT (the systemd-gpt-auto root partition marking).
"""

import ctypes
import ctypes.util
import errno
import logging
import os
import stat
from functools import cache

from sysmasterd.devmaster.builtin.getopt import getopt_long
from sysmasterd.devmaster.builtin.registry import add_property
from sysmasterd.devmaster.event import UdevEvent
from udev_rules_translator.numbers import ERANGE, parse_int

log = logging.getLogger("devmaster")
SUBLKS = (1 << 1) | (1 << 3) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8) | (1 << 11)  # LABEL UUID TYPE ...
PARTS_ENTRY_DETAILS = 1 << 2
FLTR_NOTIN, USAGE_RAID = 1, 1 << 2
_ENCODED = {"PART_ENTRY_NAME", "PART_ENTRY_TYPE", "SYSTEM_ID", "PUBLISHER_ID", "APPLICATION_ID",
            "BOOT_SYSTEM_ID", "VOLUME_ID", "LOGICAL_VOLUME_ID", "VOLUME_SET_ID", "DATA_PREPARER_ID"}
_FS_NAMES = {"TYPE": "ID_FS_TYPE", "USAGE": "ID_FS_USAGE", "VERSION": "ID_FS_VERSION",
             "PTTYPE": "ID_PART_TABLE_TYPE", "PTUUID": "ID_PART_TABLE_UUID"}


@cache
def _lib() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("blkid")
    if name is None:
        return None
    lib = ctypes.CDLL(name, use_errno=True)
    vp, cp, i64 = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int64
    lib.blkid_new_probe.restype = vp
    for fname, args in (("blkid_free_probe", [vp]), ("blkid_probe_set_superblocks_flags", [vp, ctypes.c_int]),
                        ("blkid_probe_filter_superblocks_usage", [vp, ctypes.c_int, ctypes.c_int]),
                        ("blkid_probe_set_device", [vp, ctypes.c_int, i64, i64]),
                        ("blkid_probe_enable_partitions", [vp, ctypes.c_int]),
                        ("blkid_probe_enable_superblocks", [vp, ctypes.c_int]),
                        ("blkid_probe_set_partitions_flags", [vp, ctypes.c_int]),
                        ("blkid_probe_is_wholedisk", [vp]), ("blkid_do_fullprobe", [vp]),
                        ("blkid_do_safeprobe", [vp]), ("blkid_probe_numof_values", [vp]),
                        ("blkid_probe_lookup_value", [vp, cp, ctypes.POINTER(cp), vp]),
                        ("blkid_probe_get_value", [vp, ctypes.c_int, ctypes.POINTER(cp), ctypes.POINTER(cp), vp]),
                        ("blkid_safe_string", [cp, cp, ctypes.c_size_t]),
                        ("blkid_encode_string", [cp, cp, ctypes.c_size_t]),
                        ("blkid_probe_set_hint", [vp, cp, ctypes.c_uint64])):
        getattr(lib, fname).argtypes = args
    lib.blkid_probe_get_size.argtypes = [vp]
    lib.blkid_probe_get_size.restype = i64
    return lib


def _convert(lib: ctypes.CDLL, func: str, value: bytes) -> str:
    out = ctypes.create_string_buffer(256)
    getattr(lib, func)(value, out, len(out))
    return out.value.decode(errors="replace")


def _properties(lib: ctypes.CDLL, name: str, raw: bytes) -> list[tuple[str, str]]:
    """udev's print_property(): libblkid names to ID_* properties, encoded like udev does."""
    value = raw.decode(errors="replace")
    if name in _FS_NAMES:
        return [(_FS_NAMES[name], value)]
    if name in ("UUID", "UUID_SUB", "LABEL"):
        key = f"ID_FS_{name}"
        return [(key, _convert(lib, "blkid_safe_string", raw)),
                (f"{key}_ENC", _convert(lib, "blkid_encode_string", raw))]
    if name in ("FSSIZE", "FSLASTBLOCK", "FSBLOCKSIZE"):
        return [(f"ID_FS_{name[2:]}", value)]
    if name in _ENCODED:
        prefix = "ID_" if name.startswith("PART_ENTRY_") else "ID_FS_"
        return [(prefix + name, _convert(lib, "blkid_encode_string", raw))]
    if name.startswith("PART_ENTRY_"):
        return [("ID_" + name, value)]
    return []


def _probe(lib: ctypes.CDLL, pr: int, fd: int) -> int:
    """probe_superblocks(): small partitioned disks are not probed for filesystems."""
    lib.blkid_probe_enable_partitions(pr, 1)
    if (not stat.S_ISCHR(os.fstat(fd).st_mode) and lib.blkid_probe_get_size(pr) <= 1024 * 1440
            and lib.blkid_probe_is_wholedisk(pr)):
        lib.blkid_probe_enable_superblocks(pr, 0)
        rc = int(lib.blkid_do_fullprobe(pr))
        if rc < 0:
            return rc
        if lib.blkid_probe_lookup_value(pr, b"PTTYPE", None, None) == 0:
            return 0
    lib.blkid_probe_set_partitions_flags(pr, PARTS_ENTRY_DETAILS)
    lib.blkid_probe_enable_superblocks(pr, 1)
    return int(lib.blkid_do_safeprobe(pr))


def run(event: UdevEvent, argv: list[str], test: bool) -> int:
    name = event.dev.sysname
    opts, _ = getopt_long(argv[0], argv[1:], "o:H:R", {"offset": "o", "hint": "H", "noraid": "R"})
    offset, hints, noraid = 0, [], False
    for letter, value in opts:
        if letter == "o":
            number, reason = parse_int(value, bits=64)
            if number is None:
                log.error("%s: Failed to parse '%s' as an integer: %s", name, value, reason)
                return -(errno.ERANGE if reason == ERANGE else errno.EINVAL)
            if number < 0:
                log.error("%s: Invalid offset %d: Invalid argument", name, number)
                return -errno.EINVAL
            offset = number
        elif letter == "H":
            hints.append(value)
        else:
            noraid = True
    lib = _lib()
    devname = event.dev.devname
    if not devname:  # sd_device_get_devname()'s answer, which udevadm test-builtin reports
        log.debug("%s: Failed to get device name: No such file or directory", name)
        return -errno.ENOENT
    if lib is None:
        return -errno.ENOSYS
    pr = lib.blkid_new_probe()
    if not pr:
        return -errno.ENOMEM
    try:
        for hint in hints:
            lib.blkid_probe_set_hint(pr, hint.encode(), 0)
        lib.blkid_probe_set_superblocks_flags(pr, SUBLKS)
        if noraid:
            lib.blkid_probe_filter_superblocks_usage(pr, FLTR_NOTIN, USAGE_RAID)
        try:
            fd = os.open(devname, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY)
        except OSError as e:
            absent = e.errno in (errno.ENOENT, errno.ENXIO, errno.ENODEV)
            log.debug("%s: Failed to open block device %s%s: %s", name, devname, ", ignoring" if absent else "",
                      e.strerror)
            return 0 if absent else -(e.errno or errno.EIO)
        try:
            if lib.blkid_probe_set_device(pr, fd, offset, 0) < 0:
                return -errno.ENOMEM
            log.debug("%s: Probe %s with %sraid and offset=%d", name, devname,
                      "no" if noraid else "", offset)
            if _probe(lib, pr, fd) < 0:
                return -errno.EIO
            key_name, data = ctypes.c_char_p(), ctypes.c_char_p()
            for i in range(max(int(lib.blkid_probe_numof_values(pr)), 0)):
                if lib.blkid_probe_get_value(pr, i, ctypes.byref(key_name), ctypes.byref(data), None) < 0:
                    continue
                for key, value in _properties(lib, (key_name.value or b"").decode(), data.value or b""):
                    add_property(event, key, value, test)
        finally:
            os.close(fd)
    finally:
        lib.blkid_free_probe(pr)
    return 0
