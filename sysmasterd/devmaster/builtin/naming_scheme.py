"""Network interface naming schemes (systemd.net-naming-scheme v238 ... v252).

A scheme is a name and the set of naming features it enables; net_id consults
the features so that `net.naming-scheme=v240` on the kernel command line (or
NET_NAMING_SCHEME in the environment) reproduces the names of that release.
"""

import functools
import logging
import os
from enum import IntFlag

from sysmasterd.devmaster.builtin import container

log = logging.getLogger("devmaster")


class Naming(IntFlag):
    SR_IOV_V = 1 << 0  # "v<N>" suffix for SR-IOV virtual functions
    NPAR_ARI = 1 << 1  # ARI function numbers
    INFINIBAND = 1 << 2  # "ib" prefix for InfiniBand
    ZERO_ACPI_INDEX = 1 << 3  # acpi_index 0 is a valid index
    ALLOW_RERENAMES = 1 << 4
    STABLE_VIRTUAL_MACS = 1 << 5
    NETDEVSIM = 1 << 6  # "i<id>n<port>" for netdevsim
    LABEL_NOPREFIX = 1 << 7  # ID_NET_LABEL_ONBOARD without the type prefix
    NSPAWN_LONG_HASH = 1 << 8
    BRIDGE_NO_SLOT = 1 << 9  # no hotplug slot name from a PCI bridge
    SLOT_FUNCTION_ID = 1 << 10  # s390 PCI function ids as slots
    INDEX_16BIT = 1 << 11  # onboard indexes up to 2^16-1 instead of 2^14-1
    REPLACE_STRICTLY = 1 << 12
    XEN_VIF = 1 << 13  # "X<N>" for Xen netfront
    BRIDGE_MULTIFUNCTION_SLOT = 1 << 14  # ... unless the device is multifunction
    DEVICETREE_ALIASES = 1 << 15  # "d<N>" from devicetree ethernet<N> aliases


def _cumulative() -> dict[str, Naming]:
    added: list[tuple[str, Naming]] = [
        ("v238", Naming(0)),
        ("v239", Naming.SR_IOV_V | Naming.NPAR_ARI),
        ("v240", Naming.INFINIBAND | Naming.ZERO_ACPI_INDEX | Naming.ALLOW_RERENAMES),
        ("v241", Naming.STABLE_VIRTUAL_MACS),
        ("v243", Naming.NETDEVSIM | Naming.LABEL_NOPREFIX),
        ("v245", Naming.NSPAWN_LONG_HASH),
        ("v247", Naming.BRIDGE_NO_SLOT),
        ("v249", Naming.SLOT_FUNCTION_ID | Naming.INDEX_16BIT | Naming.REPLACE_STRICTLY),
        ("v250", Naming.XEN_VIF),
        ("v251", Naming.BRIDGE_MULTIFUNCTION_SLOT),
        ("v252", Naming.DEVICETREE_ALIASES),
    ]
    schemes: dict[str, Naming] = {}
    flags = Naming(0)
    for name, more in added:
        flags |= more
        schemes[name] = flags
    return schemes


SCHEMES = _cumulative()
DEFAULT = "v252"  # Debian 12's systemd is built with this default


# A plain class, not a dataclass: devctl's start-up does not pay for dataclasses (and inspect).
class NamingScheme:
    __slots__ = ("flags", "name")

    def __init__(self, name: str, flags: Naming) -> None:
        self.name = name
        self.flags = flags

    def has(self, flag: Naming) -> bool:
        return flag in self.flags


def by_name(name: str) -> NamingScheme | None:
    if name == "latest":
        name = list(SCHEMES)[-1]
    flags = SCHEMES.get(name)
    return NamingScheme(name, flags) if flags is not None else None


def _cmdline_value(cmdline: str, key: str) -> str | None:
    """The last `key=value` on the kernel command line; '-' and '_' are the same in keys."""
    value = None
    for word in cmdline.split():
        name, sep, rest = word.partition("=")
        if sep and name.replace("_", "-") == key:
            value = rest
    return value


def choose(cmdline: str, env: str | None) -> tuple[NamingScheme, list[str]]:
    """The scheme for this kernel command line and NET_NAMING_SCHEME value, and what was wrong with them
    (logged too, with the choice, as udevd logs them).

    The environment wins, unless its value starts with ':' (then it is only a fallback)."""
    from_cmdline = _cmdline_value(cmdline, "net.naming-scheme")
    if env is None:
        wanted = from_cmdline
    elif env.startswith(":"):
        wanted = from_cmdline if from_cmdline is not None else env[1:]
    else:
        wanted = env
    diagnostics: list[str] = []
    if wanted is not None:
        scheme = by_name(wanted)
        if scheme is not None:
            log.info("Using interface naming scheme '%s'.", scheme.name)
            return scheme, diagnostics
        diagnostics.append(f"Unknown interface naming scheme '{wanted}' requested, ignoring.")
        log.warning("%s", diagnostics[-1])
    default = by_name(DEFAULT)
    assert default is not None
    log.info("Using default interface naming scheme '%s'.", default.name)
    return default, diagnostics


@functools.cache
def current() -> NamingScheme:
    """The scheme of this process, chosen once like udevd does."""
    return choose(container.kernel_command_line(), os.environ.get("NET_NAMING_SCHEME"))[0]
