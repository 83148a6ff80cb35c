"""Device and network access lists of the cgroup context (systemd.resource-control(5)): DeviceAllow=,
DevicePolicy=, IPAccounting=, IPAddressAllow=, IPAddressDeny=, parsed as systemd 252's
config_parse_device_allow(), config_parse_device_policy() and config_parse_in_addr_prefixes()."""

from __future__ import annotations

import ipaddress
import socket

from compat.model import CGroupContext, DeviceAllow, IPPrefix, UnitConfig
from compat.settings import Handler, Invalid, ParseContext, checked_path, setter, words
from compat.values import parse_boolean
from compat.words import Extract, WordSplitter

DEVICE_POLICIES = ("auto", "closed", "strict")

# The shortcuts of IPAddressAllow=/IPAddressDeny=: (IPv4, IPv6) prefixes.
_SHORTCUTS = {
    "any": ("0.0.0.0/0", "::/0"),
    "localhost": ("127.0.0.0/8", "::1/128"),
    "link-local": ("169.254.0.0/16", "fe80::/64"),
    "multicast": ("224.0.0.0/4", "ff00::/8"),
}


def _cgroup(cfg: UnitConfig) -> CGroupContext:
    return cfg.cgroup


def _device_allow(cfg: UnitConfig, value: str, ctx: ParseContext) -> None:
    if value == "":
        cfg.cgroup.device_allow.clear()
        return
    splitter = WordSplitter(value, Extract.UNQUOTE)
    try:
        path = splitter.next()
    except ValueError:
        path = None
    rest = splitter.rest
    if not path:
        raise Invalid(f"Failed to extract device path and rights from '{value}', ignoring.", complete=True)
    resolved = ctx.printf(path)
    if not resolved.startswith(("block-", "char-")):
        # Only normalization is checked here (a relative path fails as no device node below).
        if resolved.startswith("/"):
            resolved = checked_path(resolved, "DeviceAllow")
        elif ".." in resolved.split("/"):
            raise Invalid(f"DeviceAllow= path is not normalized, ignoring: {resolved}", complete=True)
        if not resolved.startswith(("/dev/", "/run/systemd/inaccessible/")):
            raise Invalid(f"Invalid device node path '{resolved}', ignoring.", complete=True)
    if rest and set(rest) - set("rwm"):
        raise Invalid(f"Invalid device rights '{rest}', ignoring.", complete=True)
    rights = "".join(c for c in "rwm" if not rest or c in rest)
    cfg.cgroup.device_allow.append(DeviceAllow(resolved, rights))


def _device_policy(value: str, ctx: ParseContext) -> str:
    if value not in DEVICE_POLICIES:
        raise Invalid("Failed to parse device policy")
    return value


def _is_localhost(name: str) -> bool:
    """systemd's is_localhost(): the name itself and anything below .localhost, with or without
    the trailing dot, and the .localdomain forms."""
    lowered = name.lower().removesuffix(".")
    return lowered in ("localhost", "localhost.localdomain") or lowered.endswith(
        (".localhost", ".localhost.localdomain"))


def ip_prefix(text: str) -> IPPrefix:
    """in_addr_prefix_from_string_auto(): ADDRESS[/PREFIXLEN], host bits masked off; ValueError."""
    _address, slash, length = text.partition("/")
    if slash and not length.isdigit():
        raise ValueError(text)
    net = ipaddress.ip_network(text, strict=False)
    family = socket.AF_INET if net.version == 4 else socket.AF_INET6
    return IPPrefix(family, net.network_address.packed, net.prefixlen)


def _prefixes(attr: str) -> Handler:
    def handle(cfg: UnitConfig, value: str, ctx: ParseContext) -> None:
        target: list[IPPrefix] = getattr(cfg.cgroup, attr)
        if value == "":
            target.clear()
            return
        for word in words(value, Extract(0)):
            name = "localhost" if _is_localhost(word) else word
            texts = _SHORTCUTS.get(name, (word,))
            try:
                prefixes = [ip_prefix(t) for t in texts]
            except ValueError:
                ctx.warn(f"Address prefix is invalid, ignoring assignment: {word}")
                continue
            target.extend(p for p in prefixes if p not in target)

    return handle


def _bool(value: str, ctx: ParseContext) -> bool:
    try:
        return parse_boolean(value)
    except ValueError:
        raise Invalid("Failed to parse boolean value") from None


ACCESS_HANDLERS: dict[str, Handler] = {
    "DeviceAllow": _device_allow,
    "DevicePolicy": setter(_cgroup, "device_policy", _device_policy),
    "IPAccounting": setter(_cgroup, "ip_accounting", _bool),
    "IPAddressAllow": _prefixes("ip_address_allow"),
    "IPAddressDeny": _prefixes("ip_address_deny"),
}
