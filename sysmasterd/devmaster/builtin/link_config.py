""".link files (systemd.link 252): parsing, loading with drop-ins, and [Match].

`parse_link_config` is pure: texts in, a LinkConfig and file:line diagnostics
out. Host conditions in [Match] (Host=, KernelVersion=, ...) are evaluated when
the files are loaded, as udev does: a file whose conditions fail is skipped.
Settings udev applies through ethtool (speed, offloads, rings, WakeOnLan, ...)
and [SR-IOV] are recognised but not applied, with a diagnostic.
"""

import logging
import os
import re
from functools import cache

from sysmasterd.devmaster.builtin.hw_addr import parse_hw_addr
from sysmasterd.devmaster.builtin.link_conditions import LINK_CONDITIONS, condition_holds, split_words
from sysmasterd.devmaster.config import read_optional
from udev_rules_translator.glob import fnmatch

LINK_DIRS = ("/etc/systemd/network", "/run/systemd/network", "/usr/local/lib/systemd/network",
             "/usr/lib/systemd/network", "/lib/systemd/network")
NAME_POLICIES = ("kernel", "keep", "database", "onboard", "slot", "path", "mac")
ALT_NAME_POLICIES = ("database", "onboard", "slot", "path", "mac")
MAC_POLICIES = ("persistent", "random", "none")
_MATCH_LISTS = ("OriginalName", "Path", "Driver", "Type", "Kind", "Property")
_ETHTOOL_KEYS = frozenset((
    "BitsPerSecond", "Duplex", "AutoNegotiation", "WakeOnLan", "WakeOnLanPassword", "Port",
    "ReceiveChecksumOffload", "TransmitChecksumOffload", "GenericSegmentationOffload", "TCPSegmentationOffload",
    "TCP6SegmentationOffload", "UDPSegmentationOffload", "GenericReceiveOffload", "GenericReceiveOffloadHardware",
    "LargeReceiveOffload", "ReceiveVLANCTAGHardwareAcceleration", "TransmitVLANCTAGHardwareAcceleration",
    "ReceiveVLANCTAGFilter", "TransmitVLANSTAGHardwareAcceleration", "NTupleFilter", "RxChannels", "TxChannels",
    "OtherChannels", "CombinedChannels", "Advertise", "RxBufferSize", "RxMiniBufferSize", "RxJumboBufferSize",
    "TxBufferSize", "RxFlowControl", "TxFlowControl", "AutoNegotiationFlowControl", "RxCoalesceSec",
    "RxMaxCoalescedFrames", "RxCoalesceIrqSec", "RxMaxCoalescedIrqFrames", "TxCoalesceSec",
    "TxMaxCoalescedFrames", "TxCoalesceIrqSec", "TxMaxCoalescedIrqFrames", "StatisticsBlockCoalesceSec",
    "UseAdaptiveRxCoalesce", "UseAdaptiveTxCoalesce", "CoalescePacketRateLow", "RxCoalesceLowSec",
    "RxMaxCoalescedLowFrames", "TxCoalesceLowSec", "TxMaxCoalescedLowFrames", "CoalescePacketRateHigh",
    "RxCoalesceHighSec", "RxMaxCoalescedHighFrames", "TxCoalesceHighSec", "TxMaxCoalescedHighFrames",
    "CoalescePacketRateSampleIntervalSec", "MDI", "SR-IOVVirtualFunctions", "TransmitQueues", "ReceiveQueues",
    "GenericSegmentOffloadMaxBytes", "GenericSegmentOffloadMaxSegments"
))
log = logging.getLogger("devmaster")
_ENV_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
_IEC = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


# A plain class, not a dataclass: devctl's start-up does not pay for dataclasses (and inspect).
class LinkConfig:
    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.match: dict[str, list[str]] = {}
        self.match_hw_addrs: set[bytes] | None = None
        self.match_permanent_hw_addrs: set[bytes] | None = None
        self.conditions: dict[str, tuple[str, bool]] = {}  # kind -> (parameter, negated)
        self.name: str | None = None
        self.name_policy: list[str] = []
        self.alternative_names: list[str] = []
        self.alternative_names_policy: list[str] = []
        self.mac_address_policy = "none"
        self.mac_address: bytes | None = None
        self.alias: str | None = None
        self.mtu: int | None = None
        self.txqueuelen: int | None = None

    def match_is_empty(self) -> bool:
        return not self.match and self.match_hw_addrs is None and self.match_permanent_hw_addrs is None


def ifname_valid(name: str | None) -> bool:
    return bool(name) and len(name or "") < 16 and name not in (".", "..") and \
        not any(c in "/:" or c.isspace() for c in name or "")


def _parse_match(config: LinkConfig, key: str, value: str, where: str, diags: list[str]) -> None:
    if key in ("MACAddress", "PermanentMACAddress"):
        attr = "match_hw_addrs" if key == "MACAddress" else "match_permanent_hw_addrs"
        if not value:
            setattr(config, attr, None)
            return
        addrs: set[bytes] = getattr(config, attr) or set()
        for word in value.split():
            raw = parse_hw_addr(word)
            if raw is None:
                diags.append(f"{where}: Not a valid hardware address, ignoring: {word}")
            else:
                addrs.add(raw)
        setattr(config, attr, addrs)
    elif key in _MATCH_LISTS:
        if not value:
            config.match.pop(key, None)
            return
        invert = value.startswith("!")
        words = split_words(value[invert:])
        if key == "OriginalName":
            bad = [w for w in words if len(w) >= 16 or "/" in w]
            diags.extend(f"{where}: Interface name is not valid or too long, ignoring assignment: {w}" for w in bad)
            words = [w for w in words if w not in bad]
        if key == "Property":
            bad = [w for w in words if not _ENV_ASSIGNMENT.match(w)]
            diags.extend(f"{where}: Invalid property or value, ignoring assignment: {w}" for w in bad)
            words = [w for w in words if w not in bad]
        config.match.setdefault(key, []).extend("!" + w if invert else w for w in words)
    elif key in LINK_CONDITIONS:
        # one condition per kind: a later assignment replaces it, an empty one removes it
        if value:
            config.conditions[key] = (value.removeprefix("!"), value.startswith("!"))
        else:
            config.conditions.pop(key, None)
    else:
        diags.append(f"{where}: Unknown key name '{key}' in section 'Match', ignoring.")


def _policies(value: str, allowed: tuple[str, ...], where: str, diags: list[str]) -> list[str]:
    out = []
    for word in value.split():
        if word in allowed:
            out.append(word)
        else:
            diags.append(f"{where}: Failed to parse interface name policy, ignoring: {word}")
    return out


def _size(value: str) -> int | None:
    number, unit = value.rstrip("KMGB"), value[len(value.rstrip("KMGB")):]
    if not number.isdigit() or unit not in _IEC:
        return None
    return int(number) * _IEC[unit]


def _parse_link(config: LinkConfig, key: str, value: str, where: str, diags: list[str]) -> None:
    if key == "Name":
        if value and not ifname_valid(value):
            diags.append(f"{where}: Interface name is not valid or too long, ignoring assignment: {value}")
            return
        config.name = value or None
    elif key == "NamePolicy":
        config.name_policy = _policies(value, NAME_POLICIES, where, diags)
    elif key == "AlternativeNamesPolicy":
        config.alternative_names_policy = _policies(value, ALT_NAME_POLICIES, where, diags)
    elif key == "AlternativeName":
        if not value:
            config.alternative_names = []
        config.alternative_names.extend(w for w in value.split() if w not in config.alternative_names)
    elif key == "MACAddressPolicy":
        if value and value not in MAC_POLICIES:
            diags.append(f"{where}: Failed to parse MACAddressPolicy=, ignoring: {value}")
            return
        config.mac_address_policy = value or "none"
    elif key == "MACAddress":
        raw = parse_hw_addr(value) if value else None
        if value and raw is None:
            diags.append(f"{where}: Not a valid hardware address, ignoring assignment: {value}")
            return
        config.mac_address = raw
    elif key == "Alias":
        if value and not value.isascii():
            diags.append(f"{where}: Interface alias is not ASCII clean, ignoring assignment: {value}")
            return
        config.alias = value or None
    elif key == "MTUBytes":
        mtu = _size(value) if value else None
        if value and (mtu is None or not 68 <= mtu <= 0xFFFFFFFF):
            diags.append(f"{where}: Failed to parse MTUBytes=, ignoring assignment: {value}")
            return
        config.mtu = mtu
    elif key == "TransmitQueueLength":
        if value and (not value.isdigit() or int(value) >= 0xFFFFFFFF):
            diags.append(f"{where}: Invalid transmit queue length, ignoring assignment: {value}")
            return
        config.txqueuelen = int(value) if value else None
    elif key == "Description":
        pass
    elif key in _ETHTOOL_KEYS:
        diags.append(f"{where}: {key}= is not applied by devmaster (ethtool settings are not supported)")
    else:
        diags.append(f"{where}: Unknown key name '{key}' in section 'Link', ignoring.")


def parse_link_config(filename: str, texts: list[tuple[str, str]]) -> tuple[LinkConfig | None, list[str]]:
    """A .link file and its drop-ins, in order: (config, or None when udev would ignore it; diagnostics)."""
    config = LinkConfig(filename)
    diags: list[str] = []
    for path, text in texts:
        section = ""
        for number, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            where = f"{path}:{number}"
            if not line or line[0] in "#;":
                continue
            if line.startswith("[") and line.endswith("]"):
                section = line[1:-1]
                if section not in ("Match", "Link", "SR-IOV"):
                    diags.append(f"{where}: Unknown section '{section}'. Ignoring.")
                continue
            key, sep, value = line.partition("=")
            if not sep:
                diags.append(f"{where}: Missing '=', ignoring line.")
                continue
            key, value = key.strip(), value.strip()
            if section == "Match":
                _parse_match(config, key, value, where, diags)
            elif section == "Link":
                _parse_link(config, key, value, where, diags)
            elif section == "SR-IOV":
                diags.append(f"{where}: [SR-IOV] settings are not applied by devmaster")
            elif section == "":
                diags.append(f"{where}: Assignment outside of section. Ignoring.")
    if config.match_is_empty() and not config.conditions:
        diags.append(f"{filename}: No valid settings found in the [Match] section, ignoring file. "
                     "To match all interfaces, add OriginalName=* in the [Match] section.")
        return None, diags
    if config.mac_address_policy in ("persistent", "random") and config.mac_address is not None:
        diags.append(f"{filename}: MACAddress= in [Link] section will be ignored when MACAddressPolicy= "
                     "is set to \"persistent\" or \"random\".")
    return config, diags


def _first_per_name(dirs: tuple[str, ...], subdir: str, suffix: str) -> dict[str, str]:
    chosen: dict[str, str] = {}
    for directory in dirs:
        try:
            names = os.listdir(os.path.join(directory, subdir))
        except OSError:
            continue
        for name in names:
            if name.endswith(suffix) and name not in chosen:
                chosen[name] = os.path.join(directory, subdir, name)
    return chosen


def link_files(dirs: tuple[str, ...] = LINK_DIRS) -> list[tuple[str, list[str]]]:
    """Each .link file in precedence order with its drop-ins (`NAME.link.d/*.conf`)."""
    files = _first_per_name(dirs, "", ".link")
    out = []
    for name in sorted(files):
        dropins = _first_per_name(dirs, name + ".d", ".conf")
        out.append((files[name], [dropins[n] for n in sorted(dropins)]))
    return out


@cache
def _load(stamp: tuple[tuple[str, int], ...], layout: tuple[tuple[str, tuple[str, ...]], ...]
          ) -> tuple[tuple[LinkConfig, ...], tuple[str, ...]]:
    configs: list[LinkConfig] = []
    diags: list[str] = []
    # udevd parses the files last first (and keeps them in precedence order): its trace and
    # warnings come in that order
    for path, dropins in reversed(layout):
        text = read_optional(path)
        if text is None or os.path.realpath(path) == "/dev/null" or not text.strip():
            if text == "" or os.path.realpath(path) == "/dev/null":
                log.debug("Skipping empty file: %s", path)
            continue
        texts = [(path, text)] + [(d, t) for d in dropins if (t := read_optional(d)) is not None]
        config, file_diags = parse_link_config(path, texts)
        for diag in file_diags:
            log.warning("%s", diag)
        diags.extend(file_diags)
        if config is not None and not all(condition_holds(k, p, n) for k, (p, n) in config.conditions.items()):
            log.debug("%s: Conditions do not match the system environment, skipping.", path)
        elif config is not None:
            log.debug('Parsed configuration file "%s"', path)
            configs.insert(0, config)
    return tuple(configs), tuple(diags)


def load_link_configs(dirs: tuple[str, ...] = LINK_DIRS) -> tuple[tuple[LinkConfig, ...], tuple[str, ...]]:
    """The .link configs in order, and parse diagnostics; re-read only when a file changed."""
    layout = tuple((path, tuple(dropins)) for path, dropins in link_files(dirs))
    stamp = []
    for path in [p for p, d in layout for p in (p, *d)]:
        try:
            stamp.append((path, os.stat(path).st_mtime_ns))
        except OSError:
            continue
    return _load(tuple(stamp), layout)


def _test_strv(patterns: list[str] | None, value: str | None) -> bool:
    if not patterns:
        return True
    hit, positive = False, False
    for pattern in patterns:
        invert = pattern.startswith("!")
        positive |= not invert
        if value is not None and fnmatch(pattern[invert:], value):
            if invert:
                return False
            hit = True
    return hit if positive else True


def _test_properties(patterns: list[str], properties: dict[str, str]) -> bool:
    for pattern in patterns:
        invert = pattern.startswith("!")
        key, _, want = pattern[invert:].partition("=")
        value = properties.get(key)
        if (value is not None and fnmatch(want, value)) == invert:
            return False
    return True


class LinkFacts:
    """What [Match] looks at; `kind` is fetched only when a file matches on Kind=."""

    def __init__(self, ifname: str, hw_addr: bytes, permanent_hw_addr: bytes | None, driver: str | None,
                 iftype: str | None, properties: dict[str, str], kind: str | None = None) -> None:
        self.ifname = ifname
        self.hw_addr = hw_addr
        self.permanent_hw_addr = permanent_hw_addr
        self.driver = driver
        self.iftype = iftype
        self.properties = properties
        self.kind = kind


def link_matches(config: LinkConfig, facts: LinkFacts) -> bool:
    if config.match_hw_addrs is not None and facts.hw_addr not in config.match_hw_addrs:
        return False
    if config.match_permanent_hw_addrs is not None and facts.permanent_hw_addr not in config.match_permanent_hw_addrs:
        return False
    match = config.match
    return (_test_strv(match.get("Path"), facts.properties.get("ID_PATH"))
            and _test_strv(match.get("Driver"), facts.driver)
            and _test_strv(match.get("Type"), facts.iftype)
            and _test_strv(match.get("Kind"), facts.kind)
            and _test_strv(match.get("OriginalName"), facts.ifname)
            and _test_properties(match.get("Property", []), facts.properties))
