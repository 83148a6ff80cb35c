"""Pure encoding/decoding of uevent netlink payloads: kernel (group 1) and libudev (group 2)."""

import struct
from collections.abc import Iterable
from dataclasses import dataclass

from sysmasterd.devmaster.framework.murmur import string_hash32, tags_bloom

UDEV_MONITOR_MAGIC = 0xFEEDCAFE
# char prefix[8]; be32 magic; u32 header_size, properties_off, properties_len;
# be32 subsystem_hash, devtype_hash, bloom_hi, bloom_lo
_HEADER = struct.Struct("=8s4sIII4s4s4s4s")
HEADER_SIZE = _HEADER.size
REQUIRED_KEYS = ("ACTION", "DEVPATH", "SUBSYSTEM", "SEQNUM")
DATABASE_VERSION = b"UDEV_DATABASE_VERSION=1\0"


class MessageError(ValueError):
    """A netlink payload that must be dropped; the text says why."""


@dataclass(frozen=True)
class UdevHeader:
    subsystem_hash: int
    devtype_hash: int
    tag_bloom: int


def _be(value: int) -> bytes:
    return value.to_bytes(4, "big")


def _unbe(raw: bytes) -> int:
    return int.from_bytes(raw, "big")


def encode_udev(properties: dict[str, str], tags: Iterable[str]) -> bytes:
    """The libudev wire form of a processed device, as systemd-udevd broadcasts it.

    The body starts with UDEV_DATABASE_VERSION=1: receivers take it as the record's format
    version (current tags are only trusted from version 1 on), not as a property.
    """
    body = DATABASE_VERSION + b"".join(f"{k}={v}".encode() + b"\0" for k, v in properties.items())
    devtype = properties.get("DEVTYPE")
    bloom = tags_bloom(tags)
    header = _HEADER.pack(
        b"libudev\0",
        _be(UDEV_MONITOR_MAGIC),
        HEADER_SIZE,
        HEADER_SIZE,
        len(body),
        _be(string_hash32(properties.get("SUBSYSTEM", ""))),
        _be(string_hash32(devtype) if devtype else 0),
        _be(bloom >> 32),
        _be(bloom & 0xFFFFFFFF),
    )
    return header + body


def _parse_nulstr(data: bytes) -> dict[str, str]:
    props: dict[str, str] = {}
    for item in data.split(b"\0"):
        if not item:
            continue
        key, sep, value = item.partition(b"=")
        if not sep or not key:
            continue
        props[key.decode(errors="replace")] = value.decode(errors="replace")
    return props


def _check_required(props: dict[str, str]) -> dict[str, str]:
    missing = [k for k in REQUIRED_KEYS if k not in props]
    if missing:
        raise MessageError(f"message lacks {', '.join(missing)}")
    if not props["SEQNUM"].isdigit():
        raise MessageError(f"invalid SEQNUM {props['SEQNUM']!r}")
    return props


def decode(data: bytes) -> tuple[dict[str, str], UdevHeader | None]:
    """Properties of a netlink uevent payload, plus the libudev header when it has one."""
    if len(data) < 32:
        raise MessageError(f"message too short ({len(data)} bytes)")
    if b"\0" not in data:
        raise MessageError("message without NUL")
    if data.startswith(b"libudev\0"):
        if len(data) < HEADER_SIZE:
            raise MessageError("truncated libudev header")
        _, magic, _, off, plen, sub, dev, hi, lo = _HEADER.unpack_from(data)
        if _unbe(magic) != UDEV_MONITOR_MAGIC:
            raise MessageError(f"invalid message signature {_unbe(magic):#x}")
        if off + 32 > len(data):
            raise MessageError(f"invalid offset for properties ({off})")
        props = _parse_nulstr(data[off : off + plen])
        props.pop("UDEV_DATABASE_VERSION", None)
        header = UdevHeader(_unbe(sub), _unbe(dev), (_unbe(hi) << 32) | _unbe(lo))
        return _check_required(props), header
    first, _, rest = data.partition(b"\0")
    if b"@/" not in first:
        raise MessageError("invalid kernel message header")
    if not rest:
        raise MessageError("kernel message without properties")
    return _check_required(_parse_nulstr(rest)), None
