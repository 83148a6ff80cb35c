"""net_setup_link builtin: apply the first matching .link file to a network interface.

As udev 252 on add/bind/move: MACAddressPolicy=/MACAddress=, Alias=, MTUBytes=,
TransmitQueueLength= in one RTM_SETLINK, the new name from NamePolicy=/Name=
(exported as ID_NET_NAME; NAME= in 80-net-setup-link.rules renames), then
AlternativeName=/AlternativeNamesPolicy=. rtnetlink goes through pyroute2,
imported only when something is to be changed.
"""

from __future__ import annotations

import errno
import logging
import os
import struct

from sysmasterd.devmaster.builtin import hw_addr, naming_scheme
from sysmasterd.devmaster.builtin.link_config import (
    LinkConfig,
    LinkFacts,
    ifname_valid,
    link_matches,
    load_link_configs,
)
from sysmasterd.devmaster.builtin.registry import add_property
from sysmasterd.devmaster.device import Device
from sysmasterd.devmaster.event import UdevEvent

TYPE_CHECKING = False  # mypy knows the name; typing's import is not needed at run time
if TYPE_CHECKING:
    from typing import Any

log = logging.getLogger("devmaster")
NET_NAME_ENUM, NET_NAME_PREDICTABLE, NET_NAME_USER, NET_NAME_RENAMED = 1, 2, 3, 4
IFF_LOOPBACK = 0x8
SIOCETHTOOL, ETHTOOL_GDRVINFO, ETHTOOL_GPERMADDR = 0x8946, 0x3, 0x20
_POLICY_PROPERTY = {"database": "ID_NET_NAME_FROM_DATABASE", "onboard": "ID_NET_NAME_ONBOARD",
                    "slot": "ID_NET_NAME_SLOT", "path": "ID_NET_NAME_PATH", "mac": "ID_NET_NAME_MAC"}
# linux/if_arp.h names, lowercased, as [Match] Type= sees them when there is no DEVTYPE
_ARPHRD = {0: "netrom", 1: "ether", 24: "ieee1394", 32: "infiniband", 256: "slip", 280: "can", 512: "ppp",
           519: "rawip", 768: "tunnel", 769: "tunnel6", 772: "loopback", 776: "sit", 778: "ipgre",
           801: "ieee80211", 803: "ieee80211_radiotap", 804: "ieee802154", 823: "ip6gre", 825: "6lowpan",
           65534: "none", 65535: "void"}


def init() -> None:
    naming_scheme.current()  # udevd settles the scheme while it reads the first .link file
    load_link_configs()
    log.debug("Created link configuration context.")


def unload() -> None:
    log.debug("Unloaded link configuration context.")


def _ethtool(ifname: str, payload: bytes) -> bytes | OSError:
    """The answer to one SIOCETHTOOL request, or the error it failed with (for the trace)."""
    import ctypes  # here: devctl test-builtin sets the builtin up without asking any interface
    import fcntl
    import socket

    buf = ctypes.create_string_buffer(payload)
    ifreq = struct.pack("16sP", ifname.encode()[:15], ctypes.addressof(buf)).ljust(40, b"\0")
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
            fcntl.ioctl(s.fileno(), SIOCETHTOOL, ifreq)
    except OSError as e:
        return e
    return buf.raw


def ethtool_driver(ifname: str) -> str | None:
    """The driver name ethtool reports (ETHTOOL_GDRVINFO), what udev exports as ID_NET_DRIVER."""
    raw = _ethtool(ifname, struct.pack("I", ETHTOOL_GDRVINFO) + bytes(192))
    if isinstance(raw, OSError):
        log.debug("%s: Failed to get driver, ignoring: %s", ifname, raw.strerror)
        return None
    return raw[4:36].split(b"\0", 1)[0].decode(errors="replace") or None


def ethtool_permanent_addr(ifname: str) -> bytes | None:
    raw = _ethtool(ifname, struct.pack("II", ETHTOOL_GPERMADDR, 32) + bytes(32))
    if isinstance(raw, OSError):
        log.debug("%s: Failed to get permanent hardware address, ignoring: %s", ifname, raw.strerror)
        return None
    size = struct.unpack_from("I", raw, 4)[0]
    addr = raw[8:8 + min(size, 32)]
    return addr if any(addr) else None


def _assign_type(dev: Device, name: str) -> None:
    """The trace of link_new() reading name_assign_type and addr_assign_type (read here, not
    through the device's cache, for the error a failed read gives)."""
    try:
        with open(os.path.join(dev.syspath, name)) as f:
            value = f.read().strip()
    except OSError as e:
        log.debug("%s: Failed to query %s: %s", dev.sysname, name, e.strerror)
        log.debug('%s: Failed to get "%s" attribute, ignoring: %s', dev.sysname, name, e.strerror)
        return
    if value.isdigit():
        log.debug("%s: Device has %s=%s", dev.sysname, name, int(value))
    else:
        log.warning('%s: Failed to parse %s "%s": Invalid argument', dev.sysname, name, value)


def _int_attr(dev: Device, name: str, base: int = 10) -> int | None:
    try:
        return int(dev.attr(name) or "", base)
    except ValueError:
        return None


def _hw(dev: Device) -> bytes:
    try:
        return bytes.fromhex((dev.attr("address") or "").replace(":", ""))
    except ValueError:
        return b""


def _rtnl_call(action: str, **kw: Any) -> list[Any]:
    from pyroute2 import IPRoute  # imported here: only events that change a link pay for it

    with IPRoute() as ipr:
        return list(ipr.link(action, **kw))


def _kind(ifindex: int) -> str | None:
    try:
        msg = _rtnl_call("get", index=ifindex)[0]
    except Exception:  # pyroute2 raises NetlinkError and OSError subclasses
        return None
    kind: str | None = msg.get(("IFLA_LINKINFO", "IFLA_INFO_KIND"))
    return kind


def new_name(config: LinkConfig, dev: Device, action: str, name_policy: bool = True) -> str:
    """ID_NET_NAME: what NamePolicy=/Name= yield, or the current name when nothing applies
    (link_generate_new_name(), with its trace)."""
    # naming scheme v252 allows re-renaming names userspace gave (NAMING_ALLOW_RERENAMES)
    assign = _int_attr(dev, "name_assign_type") or 0
    if action == "move":
        log.debug("%s: Skipping to apply Name= and NamePolicy= on '%s' uevent.", dev.sysname, action)
        return dev.sysname
    if name_policy:
        for policy in config.name_policy:
            if policy == "kernel" or policy == "keep":
                kept = assign == NET_NAME_PREDICTABLE if policy == "kernel" else assign in (NET_NAME_USER,
                                                                                           NET_NAME_RENAMED)
                if kept:
                    log.debug("%s: Policy *%s*: keeping %s", dev.sysname, policy,
                              "predictable kernel name" if policy == "kernel" else "existing userspace name")
                    return dev.sysname
                continue
            candidate = dev.properties.get(_POLICY_PROPERTY[policy])
            if ifname_valid(candidate):
                assert candidate is not None
                log.debug('%s: Policy *%s* yields "%s".', dev.sysname, policy, candidate)
                return candidate
    if config.name:
        log.debug("%s: Policies didn't yield a name, using specified Name=%s.", dev.sysname, config.name)
        return config.name
    log.debug("%s: Policies didn't yield a name and Name= is not given, not renaming.", dev.sysname)
    return dev.sysname


def _name_policy_enabled() -> bool:
    try:
        with open("/proc/cmdline") as f:
            return "net.ifnames=0" not in f.read().split()
    except OSError:
        return True


def _stable_name(dev: Device) -> str:
    for key in ("ID_NET_NAME_ONBOARD", "ID_NET_NAME_SLOT", "ID_NET_NAME_PATH", "ID_NET_NAME_MAC"):
        if key in dev.properties:
            return dev.properties[key]
    return dev.sysname


def _apply_rtnl_settings(dev: Device, ifindex: int, config: LinkConfig) -> None:
    link = hw_addr.LinkAddress(_int_attr(dev, "type") or 0, _hw(dev), _int_attr(dev, "addr_assign_type") or 0,
                               _stable_name(dev))
    machine_id = hw_addr.read_machine_id() if config.mac_address_policy == "persistent" else None
    static = config.mac_address if config.mac_address_policy == "none" else None
    address, notes = hw_addr.new_hw_addr(link, config.mac_address_policy, static, machine_id)
    for level, note in notes:
        log.log(level, "%s: %s", dev.sysname, note)
    changes: dict[str, object] = {}
    if address is not None:
        kind = "static" if config.mac_address_policy == "none" else config.mac_address_policy
        log.debug("%s: Applying %s MAC address: %s", dev.sysname, kind, hw_addr.format_hw_addr(address))
        changes["address"] = hw_addr.format_hw_addr(address)
    if config.alias is not None:
        changes["ifalias"] = config.alias
    if config.mtu is not None:
        changes["mtu"] = config.mtu
    if config.txqueuelen is not None:
        changes["txqlen"] = config.txqueuelen
    if not changes:
        return
    try:
        _rtnl_call("set", index=ifindex, **changes)
    except Exception as e:  # pyroute2 raises NetlinkError and OSError subclasses
        log.warning("%s: Could not set Alias=, MACAddress=/MACAddressPolicy=, TransmitQueues=, ReceiveQueues=, "
                    "TransmitQueueLength=, MTUBytes=, GenericSegmentOffloadMaxBytes= or "
                    "GenericSegmentOffloadMaxSegments=, ignoring: %s", dev.sysname, e)
    dev.forget_attrs()


def _apply_alternative_names(dev: Device, ifindex: int, config: LinkConfig) -> None:
    names = list(config.alternative_names)
    names += [v for p in config.alternative_names_policy if (v := dev.properties.get(_POLICY_PROPERTY[p]))]
    wanted = sorted({n for n in names if n != dev.sysname})
    if not wanted:
        return
    try:
        current = _rtnl_call("get", index=ifindex)[0].get_nested("IFLA_PROP_LIST") or []
        have = {value for key, value in getattr(current, "attrs", []) if key == "IFLA_ALT_IFNAME"}
        wanted = [n for n in wanted if n not in have]
        if wanted:
            _rtnl_call("property_add", index=ifindex, altname=wanted)
    except Exception as e:  # pyroute2 raises NetlinkError and OSError subclasses
        level = logging.DEBUG if getattr(e, "code", 0) == errno.EOPNOTSUPP else logging.WARNING
        log.log(level, "%s: Could not set AlternativeName= or apply AlternativeNamesPolicy=, ignoring: %s",
                dev.sysname, e)


def run(event: UdevEvent, argv: list[str], test: bool) -> int:
    if len(argv) > 1:
        log.error("%s: This program takes no arguments.", event.dev.sysname)
        return -errno.EINVAL
    dev = event.dev
    ifindex, type_number, flags = dev.ifindex, _int_attr(dev, "type"), _int_attr(dev, "flags", 16)
    if ifindex is None:  # no network interface at all
        log.warning("%s: Failed to get link information: No such file or directory", dev.sysname)
        return -errno.ENOENT
    if not ifindex or type_number is None:
        log.debug("%s: Link vanished while getting information, ignoring.", dev.sysname)
        return 0
    for name in ("name_assign_type", "addr_assign_type"):
        _assign_type(dev, name)
    current = _hw(dev)
    permanent = ethtool_permanent_addr(dev.sysname) if current else None
    driver = ethtool_driver(dev.sysname)
    if driver:
        add_property(event, "ID_NET_DRIVER", driver, test)
    config = None
    if not (flags or 0) & IFF_LOOPBACK:  # .link files never configure a loopback interface
        configs, _ = load_link_configs()
        facts = LinkFacts(dev.sysname, current, permanent, driver, dev.devtype or _ARPHRD.get(type_number),
                          dev.properties)
        if any("Kind" in c.match for c in configs):
            facts.kind = _kind(ifindex)
        config = next((c for c in configs if link_matches(c, facts)), None)
    if config is None:
        log.debug("%s: No matching link configuration found, ignoring device.", dev.sysname)
        return 0
    if "OriginalName" in config.match and "*" not in config.match["OriginalName"] and \
            _int_attr(dev, "name_assign_type") == NET_NAME_ENUM:
        log.warning("%s: Config file %s is applied to device based on potentially unpredictable interface name.",
                    dev.sysname, config.filename)
    else:
        log.debug("%s: Config file %s is applied", dev.sysname, config.filename)
    if event.action in ("add", "bind", "move"):
        _apply_rtnl_settings(dev, ifindex, config)
        name = new_name(config, dev, event.action, _name_policy_enabled())
        _apply_alternative_names(dev, ifindex, config)
    else:
        log.debug("%s: Skipping to apply .link settings on '%s' uevent.", dev.sysname, event.action)
        name = dev.sysname
    add_property(event, "ID_NET_LINK_FILE", config.filename, test)
    add_property(event, "ID_NET_NAME", name, test)
    return 0
