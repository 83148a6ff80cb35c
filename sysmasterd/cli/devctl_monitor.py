"""devctl monitor: print kernel uevents and processed events (udevadm monitor)."""

import select
import signal
import socket
import sys
import time

from sysmasterd.cli.devctl_common import VERSION_OR_HELP, parse, version_or_help
from sysmasterd.devmaster.framework import netlink
from sysmasterd.devmaster.framework.message import MessageError
from sysmasterd.devmaster.framework.socket_filter import attach_filter, build_filter

HELP = """{prog} monitor [OPTIONS]

Listen to kernel and udev events.

  -h --help                                Show this help
  -V --version                             Show package version
  -p --property                            Print the event properties
  -k --kernel                              Print kernel uevents
  -u --udev                                Print udev events
  -s --subsystem-match=SUBSYSTEM[/DEVTYPE] Filter events by subsystem
  -t --tag-match=TAG                       Filter events by tag"""


def _passes(props: dict[str, str], subsystems: list[tuple[str, str | None]], tags: list[str],
            udev: bool) -> bool:
    if subsystems and not any(props.get("SUBSYSTEM") == s and (d is None or props.get("DEVTYPE") == d)
                              for s, d in subsystems):
        return False
    if tags:
        present = set((props.get("TAGS") or "").strip(":").split(":")) if udev else set()
        if not any(t in present for t in tags):
            return False
    return True


def _sd_device_order(props: dict[str, str]) -> list[tuple[str, str]]:
    """The event's properties as sd_device rebuilds them from the message: MAJOR and MINOR are
    set as the device number once the whole message is read, and DEVLINKS, TAGS and CURRENT_TAGS
    become sets that are listed again after everything else."""
    devnum = [(k, props[k]) for k in ("MAJOR", "MINOR") if k in props and "MAJOR" in props]
    late = devnum + [(k, props[k]) for k in ("DEVLINKS", "TAGS", "CURRENT_TAGS") if k in props]
    return [(k, v) for k, v in props.items() if k not in dict(late)] + late


def main(argv: list[str], prog: str = "udevadm") -> int:
    o = parse("monitor", argv, "pekus:t:Vh",
              ["property", "environment", "kernel", "udev", "subsystem-match=", "tag-match=", "version", "help"])
    show_props = kernel = udev = False
    subsystems: list[tuple[str, str | None]] = []
    tags: list[str] = []
    for opt, val in o.opts:
        if opt in ("-p", "-e", "--property", "--environment"):
            show_props = True
        elif opt in ("-k", "--kernel"):
            kernel = True
        elif opt in ("-u", "--udev"):
            udev = True
        elif opt in ("-s", "--subsystem-match"):
            sub, _, devtype = val.partition("/")
            subsystems.append((sub, devtype or None))
        elif opt in ("-t", "--tag-match"):
            tags.append(val)
        elif opt in VERSION_OR_HELP:
            return version_or_help(opt, HELP.format(prog=prog))
    if not kernel and not udev:
        kernel = udev = True
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    socks: dict[socket.socket, int] = {}
    print("monitor will print the received events for:")
    if udev:
        udev_sock = netlink.open_uevent_socket(netlink.GROUP_UDEV)
        # as udevadm: the kernel drops what cannot match; kernel uevents are filtered below
        attach_filter(udev_sock, build_filter(subsystems, tags))
        socks[udev_sock] = netlink.GROUP_UDEV
        print("UDEV - the event which udev sends out after rule processing")
    if kernel:
        socks[netlink.open_uevent_socket(netlink.GROUP_KERNEL)] = netlink.GROUP_KERNEL
        print("KERNEL - the kernel uevent")
    print(flush=True)
    try:
        while True:
            ready, _, _ = select.select(list(socks), [], [])
            for sock in ready:
                group = socks[sock]
                try:
                    props = netlink.receive(sock, group).properties
                except (MessageError, BlockingIOError):
                    continue
                if not _passes(props, subsystems, tags, group == netlink.GROUP_UDEV):
                    continue
                now = time.clock_gettime(time.CLOCK_MONOTONIC)
                label = "UDEV" if group == netlink.GROUP_UDEV else "KERNEL"
                print(f"{label:<6}[{int(now)}.{int(now % 1 * 1e6):06d}] {props['ACTION']:<8} "
                      f"{props['DEVPATH']} ({props['SUBSYSTEM']})")
                if show_props:
                    for key, value in _sd_device_order(props):
                        # the kernel names the node relative to /dev; sd_device (and so udevadm) makes it absolute
                        if key == "DEVNAME" and not value.startswith("/"):
                            value = "/dev/" + value
                        print(f"{key}={value}")
                    print()
                sys.stdout.flush()
    except KeyboardInterrupt:
        return 0
