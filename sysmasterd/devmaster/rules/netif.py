"""NAME= for network interfaces: rename through rtnetlink (pyroute2)."""

import logging
import os

from sysmasterd.devmaster.event import UdevEvent

log = logging.getLogger("devmaster")


def rename_netif(event: UdevEvent) -> None:
    dev = event.dev
    if dev.subsystem != "net" or event.action != "add" or not event.name or event.name == dev.sysname:
        return
    ifindex = dev.ifindex
    if not ifindex:
        return
    from pyroute2 import IPRoute  # imported here: only renames pay for loading rtnetlink

    old = dev.sysname
    try:
        with IPRoute() as ipr:
            ipr.link("set", index=ifindex, ifname=event.name)
    except Exception as e:  # pyroute2 raises NetlinkError and OSError subclasses
        log.error("%s: failed to rename network interface %d to '%s': %s", old, ifindex, event.name, e)
        return
    dev.rename(os.path.join(os.path.dirname(dev.syspath), event.name))
    dev.properties["INTERFACE"] = event.name
    log.info("%s: network interface %d renamed to '%s'", old, ifindex, event.name)
