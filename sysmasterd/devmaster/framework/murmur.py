"""MurmurHash2 (32-bit, seed 0) and the 64-bit tag bloom that libudev filters on.

libudev receivers compare these against their own filters and silently drop a
message whose hashes are wrong, so they must match systemd's bit for bit.
"""

from collections.abc import Iterable

_M = 0x5BD1E995
_MASK = 0xFFFFFFFF


def murmur_hash2(data: bytes, seed: int = 0) -> int:
    length = len(data)
    h = (seed ^ length) & _MASK
    whole = length - (length & 3)
    for i in range(0, whole, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = (h * _M) & _MASK
        h ^= k
    rest = length & 3
    if rest == 3:
        h ^= data[whole + 2] << 16
    if rest >= 2:
        h ^= data[whole + 1] << 8
    if rest >= 1:
        h ^= data[whole]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h


def string_hash32(text: str) -> int:
    return murmur_hash2(text.encode())


def string_bloom64(text: str) -> int:
    h = string_hash32(text)
    bits = 0
    for shift in (0, 6, 12, 18):
        bits |= 1 << ((h >> shift) & 63)
    return bits


def tags_bloom(tags: Iterable[str]) -> int:
    bits = 0
    for tag in tags:
        bits |= string_bloom64(tag)
    return bits
