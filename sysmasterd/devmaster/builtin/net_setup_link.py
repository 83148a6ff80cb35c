"""net_setup_link builtin: pick the .link file for an interface and the name it should get.

[Match] OriginalName/MACAddress/PermanentMACAddress/Path/Driver/Type/Property,
[Link] Name/NamePolicy; ID_NET_LINK_FILE, ID_NET_DRIVER and ID_NET_NAME are
exported and NAME= in 80-net-setup-link.rules does the rename. Not applied:
MACAddressPolicy/MACAddress, ethtool settings, alternative names.
"""

import ctypes
import errno
import fcntl
import os
import socket
import struct
from dataclasses import dataclass, field
from functools import cache

from sysmasterd.devmaster.builtin.registry import add_property
from sysmasterd.devmaster.device import Device
from sysmasterd.devmaster.event import UdevEvent
from udev_rules_translator.glob import fnmatch

LINK_DIRS = ("/etc/systemd/network", "/run/systemd/network", "/usr/local/lib/systemd/network",
             "/usr/lib/systemd/network", "/lib/systemd/network")
NET_NAME_PREDICTABLE, NET_NAME_USER, NET_NAME_RENAMED = 2, 3, 4
ARPHRD_LOOPBACK = 772
SIOCETHTOOL, ETHTOOL_GDRVINFO = 0x8946, 0x3
_POLICY_PROPERTY = {"database": "ID_NET_NAME_FROM_DATABASE", "onboard": "ID_NET_NAME_ONBOARD",
                    "slot": "ID_NET_NAME_SLOT", "path": "ID_NET_NAME_PATH", "mac": "ID_NET_NAME_MAC"}
_TYPES = {1: "ether", 32: "infiniband", 772: "loopback", 776: "sit", 778: "gre", 65534: "none"}


@dataclass
class LinkConfig:
    filename: str
    match: dict[str, list[str]] = field(default_factory=dict)
    name: str | None = None
    name_policy: list[str] = field(default_factory=list)


def parse_link_file(filename: str, text: str) -> LinkConfig:
    config = LinkConfig(filename)
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, sep, value = line.partition("=")
        if not sep:
            continue
        key, value = key.strip(), value.strip()
        if section == "Match":
            if value:
                config.match.setdefault(key, []).extend(value.split())
            else:
                config.match.pop(key, None)
        elif section == "Link" and key == "Name":
            config.name = value or None
        elif section == "Link" and key == "NamePolicy":
            config.name_policy = value.split()
    return config


def _list_files() -> list[str]:
    chosen: dict[str, str] = {}
    for directory in LINK_DIRS:
        try:
            names = os.listdir(directory)
        except OSError:
            continue
        for name in names:
            if name.endswith(".link") and name not in chosen:
                chosen[name] = os.path.join(directory, name)
    return [chosen[n] for n in sorted(chosen)]


@cache
def _configs(stamp: tuple[tuple[str, int], ...]) -> list[LinkConfig]:
    configs = []
    for path, _ in stamp:
        try:
            with open(path) as f:
                text = f.read()
        except OSError:
            continue
        if os.path.realpath(path) == "/dev/null" or not text.strip():
            continue
        configs.append(parse_link_file(path, text))
    return configs


def load_configs() -> list[LinkConfig]:
    stamp = []
    for path in _list_files():
        try:
            stamp.append((path, os.stat(path).st_mtime_ns))
        except OSError:
            continue
    return _configs(tuple(stamp))


def init() -> None:
    load_configs()


def _match_list(patterns: list[str], value: str | None) -> bool:
    invert = bool(patterns) and patterns[0].startswith("!")
    pats = [patterns[0][1:], *patterns[1:]] if invert else patterns
    hit = value is not None and any(fnmatch(p, value) for p in pats if p)
    return hit != invert


def matches(config: LinkConfig, dev: Device, driver: str | None, iftype: str | None) -> bool:
    for key, values in config.match.items():
        if key == "OriginalName":
            ok = _match_list(values, dev.sysname)
        elif key in ("MACAddress", "PermanentMACAddress"):
            address = (dev.attr("address") or "").lower()
            ok = address in (v.lower() for v in values)
        elif key == "Path":
            ok = _match_list(values, dev.properties.get("ID_PATH"))
        elif key == "Driver":
            ok = _match_list(values, driver)
        elif key == "Type":
            ok = _match_list(values, iftype)
        elif key == "Property":
            ok = all(dev.properties.get(k) == v for k, _, v in (p.partition("=") for p in values))
        else:
            ok = True
        if not ok:
            return False
    return True


def _name_policy_enabled() -> bool:
    try:
        with open("/proc/cmdline") as f:
            return "net.ifnames=0" not in f.read().split()
    except OSError:
        return True


def new_name(config: LinkConfig, dev: Device, action: str) -> str:
    try:
        assign = int(dev.attr("name_assign_type") or "0")
    except ValueError:
        assign = 0
    if action == "move" or assign in (NET_NAME_USER, NET_NAME_RENAMED):
        return dev.sysname
    if _name_policy_enabled():
        for policy in config.name_policy:
            if policy == "kernel" and assign == NET_NAME_PREDICTABLE:
                return dev.sysname
            if policy == "keep" and assign in (NET_NAME_USER, NET_NAME_RENAMED):
                return dev.sysname
            candidate = dev.properties.get(_POLICY_PROPERTY.get(policy, ""))
            if candidate and len(candidate) < 16 and "/" not in candidate and candidate not in (".", ".."):
                return candidate
    return config.name or dev.sysname


def ethtool_driver(ifname: str) -> str | None:
    """The driver name ethtool reports (ETHTOOL_GDRVINFO), what udev exports as ID_NET_DRIVER."""
    info = ctypes.create_string_buffer(struct.pack("I", ETHTOOL_GDRVINFO) + bytes(192))
    ifreq = struct.pack("16sP", ifname.encode()[:15], ctypes.addressof(info)).ljust(40, b"\0")
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
            fcntl.ioctl(s.fileno(), SIOCETHTOOL, ifreq)
    except OSError:
        return None
    return info.raw[4:36].split(b"\0", 1)[0].decode(errors="replace") or None


def run(event: UdevEvent, argv: list[str], test: bool) -> int:
    if len(argv) > 1:
        return -errno.EINVAL
    dev = event.dev
    try:
        type_number = int(dev.attr("type") or "")
    except ValueError:
        return 0
    driver = ethtool_driver(dev.sysname)
    if driver:
        add_property(event, "ID_NET_DRIVER", driver, test)
    if type_number == ARPHRD_LOOPBACK:
        return 0
    iftype = _TYPES.get(type_number)
    config = next((c for c in load_configs() if matches(c, dev, driver, iftype)), None)
    if config is None:
        return 0
    add_property(event, "ID_NET_LINK_FILE", config.filename, test)
    add_property(event, "ID_NET_NAME", new_name(config, dev, event.action), test)
    return 0
