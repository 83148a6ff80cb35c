"""Hardware addresses for .link files: parsing, and the MAC address MACAddressPolicy= yields.

Semantics of systemd 252 (link-config.c, netif-util.c, ether-addr-util.c):
`persistent` hashes the machine id and the device's most stable name with
SipHash-2-4 under a fixed key, so the same interface gets the same address
on every boot; `random` draws one; `none` keeps the kernel's or applies
MACAddress=. Generated addresses are unicast and locally administered.
"""

import logging
import os
import struct
from collections.abc import Callable

ARPHRD_ETHER, ARPHRD_INFINIBAND = 1, 32
ETH_ALEN, INFINIBAND_ALEN = 6, 20
NET_ADDR_PERM, NET_ADDR_RANDOM, NET_ADDR_STOLEN, NET_ADDR_SET = 0, 1, 2, 3
# systemd's fixed key for predictable per-machine data (udev MACs, networkd IPv4LL seeds)
HASH_KEY = bytes.fromhex("d31e48fa90fe4b4c9dafd5d7a1b12e8a")
_MASK = (1 << 64) - 1
_HEX = set("0123456789abcdefABCDEF")


def siphash24(data: bytes, key: bytes) -> int:
    """SipHash-2-4 of `data` under a 16-byte key, as an integer (the C function's uint64_t)."""
    k0, k1 = struct.unpack("<QQ", key)
    v0, v1 = k0 ^ 0x736F6D6570736575, k1 ^ 0x646F72616E646F6D
    v2, v3 = k0 ^ 0x6C7967656E657261, k1 ^ 0x7465646279746573

    def rounds(n: int) -> None:
        nonlocal v0, v1, v2, v3
        for _ in range(n):
            v0 = (v0 + v1) & _MASK
            v1 = ((v1 << 13) | (v1 >> 51)) & _MASK ^ v0
            v0 = ((v0 << 32) | (v0 >> 32)) & _MASK
            v2 = (v2 + v3) & _MASK
            v3 = ((v3 << 16) | (v3 >> 48)) & _MASK ^ v2
            v0 = (v0 + v3) & _MASK
            v3 = ((v3 << 21) | (v3 >> 43)) & _MASK ^ v0
            v2 = (v2 + v1) & _MASK
            v1 = ((v1 << 17) | (v1 >> 47)) & _MASK ^ v2
            v2 = ((v2 << 32) | (v2 >> 32)) & _MASK

    tail = len(data) % 8
    body = len(data) - tail
    for (m,) in struct.iter_unpack("<Q", data[:body]):
        v3 ^= m
        rounds(2)
        v0 ^= m
    last = int.from_bytes(data[body:], "little") | ((len(data) & 0xFF) << 56)
    v3 ^= last
    rounds(2)
    v0 ^= last
    v2 ^= 0xFF
    rounds(4)
    return v0 ^ v1 ^ v2 ^ v3


def _fields(text: str, sep: str, width: int) -> bytes | None:
    out = bytearray()
    for part in text.split(sep):
        if not part or len(part) > 2 * width or not set(part) <= _HEX:
            return None
        out += int(part, 16).to_bytes(width, "big")
    return bytes(out)


def parse_hw_addr(text: str) -> bytes | None:
    """MACAddress= values: xx:xx:.., xx-xx-.., xxxx.xxxx.xxxx, or an IPv4/IPv6 address (tunnels).

    Accepted lengths are those of IPv4, IPv6, Ethernet and InfiniBand addresses.
    """
    import ipaddress  # here: only a .link file's MACAddress= needs it

    try:
        return ipaddress.ip_address(text).packed
    except ValueError:
        pass
    sep = next((c for c in text if c not in _HEX), "")
    if sep not in (":", "-", "."):
        return None
    raw = _fields(text, sep, 2 if sep == "." else 1)
    return raw if raw is not None and len(raw) in (4, 16, ETH_ALEN, INFINIBAND_ALEN) else None


def format_hw_addr(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


def read_machine_id(path: str = "/etc/machine-id") -> bytes | None:
    try:
        with open(path) as f:
            text = f.read().strip()
    except OSError:
        return None
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        return None
    return raw if len(raw) == 16 and len(text) == 32 and any(raw) else None


# A plain class, not a dataclass: devctl's start-up does not pay for dataclasses (and inspect).
class LinkAddress:
    """What MACAddressPolicy= needs to know about an interface."""

    __slots__ = ("addr_assign_type", "hw_addr", "iftype", "stable_name")

    def __init__(self, iftype: int, hw_addr: bytes, addr_assign_type: int, stable_name: str) -> None:
        self.iftype = iftype
        self.hw_addr = hw_addr
        self.addr_assign_type = addr_assign_type
        # ID_NET_NAME_ONBOARD/SLOT/PATH/MAC, else the interface name (naming scheme >= v251)
        self.stable_name = stable_name


def _valid(iftype: int, addr: bytes) -> bool:
    if iftype == ARPHRD_ETHER:
        return any(addr) and addr != b"\xff" * ETH_ALEN
    return any(addr[-8:])


def verify_hw_addr(iftype: int, static: bool, current: bytes, new: bytes) -> tuple[bytes | None, str | None]:
    """Adjust or refuse an address like the kernel would: (address or None, warning or None).

    Warnings are only for MACAddress= (static): generated addresses are fixed silently.
    """
    expected = {ARPHRD_ETHER: ETH_ALEN, ARPHRD_INFINIBAND: INFINIBAND_ALEN}.get(iftype)
    if expected is None:
        return None, f"Unsupported interface type {iftype} to set MAC address, refusing." if static else None
    if len(new) != expected:
        return None, (f"Specified MAC address with invalid length ({len(new)}, expected {expected}), refusing."
                      if static else None)
    warning = None
    if iftype == ARPHRD_ETHER:
        if not any(new):
            return None, "Specified MAC address is null, refusing." if static else None
        if new == b"\xff" * ETH_ALEN:
            return None, "Specified MAC address is broadcast, refusing." if static else None
        first = new[0]
        if first & 0x01:
            warning = "Specified MAC address has the multicast bit set, clearing the bit." if static else None
            first &= 0xFE
        if not static:
            first |= 0x02
        return bytes([first]) + new[1:], warning
    if static and (any(new[:12]) and new[:12] != current[:12]):
        warning = "Only the last 8 bytes of the InifniBand MAC address can be changed, ignoring the first 12 bytes."
    if not any(new[-8:]):
        return None, "The last 8 bytes of the InfiniBand MAC address cannot be null, refusing." if static else None
    return current[:12] + new[12:], warning


def new_hw_addr(link: LinkAddress, policy: str, static_addr: bytes | None, machine_id: bytes | None,
                random_bytes: Callable[[int], bytes] = os.urandom) -> tuple[bytes | None, list[tuple[int, str]]]:
    """The address to set (None: leave it) and what to log (logging level, text), for
    MACAddressPolicy=/MACAddress=, as link_generate_new_hw_addr() decides and logs it."""
    notes: list[tuple[int, str]] = []
    if not link.hw_addr:
        return None, notes
    static = policy == "none"
    if static:
        notes.append((logging.DEBUG, "Using static MAC address."))
        if not static_addr:
            return None, notes
        new = static_addr
    else:
        if link.iftype not in (ARPHRD_ETHER, ARPHRD_INFINIBAND):
            return None, notes
        if link.addr_assign_type == NET_ADDR_SET:
            return None, [(logging.DEBUG, "MAC address on the device already set by userspace.")]
        if link.addr_assign_type == NET_ADDR_STOLEN:
            return None, [(logging.DEBUG, "MAC address on the device already set based on another device.")]
        if link.addr_assign_type not in (NET_ADDR_PERM, NET_ADDR_RANDOM):
            return None, [(logging.WARNING, f"Unknown addr_assign_type {link.addr_assign_type}, ignoring")]
        if (policy == "random") == (link.addr_assign_type == NET_ADDR_RANDOM):
            return None, [(logging.DEBUG, f'MAC address on the device already matches policy "{policy}".')]
        length = ETH_ALEN if link.iftype == ARPHRD_ETHER else 8
        prefix = b"" if link.iftype == ARPHRD_ETHER else bytes(12)
        if policy == "random":
            new = prefix + random_bytes(length)
            while not _valid(link.iftype, new):
                new = prefix + random_bytes(length)
        else:
            if machine_id is None:
                return None, [(logging.WARNING, "Could not generate persistent MAC address: no machine id")]
            value = siphash24(machine_id + link.stable_name.encode(), HASH_KEY)
            new = prefix + value.to_bytes(8, "little")[:length]
            if not _valid(link.iftype, new):
                return None, [(logging.WARNING, "Could not generate valid persistent MAC address")]
    verified, warning = verify_hw_addr(link.iftype, static, link.hw_addr, new)
    if warning:
        notes.append((logging.WARNING, warning))
    if verified is None or verified == link.hw_addr:
        return None, notes
    return verified, notes
