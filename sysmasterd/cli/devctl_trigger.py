"""devctl trigger: request events from the kernel (udevadm trigger)."""

import contextlib
import errno
import os
import select
import sys
import time

from sysmasterd.cli.devctl_common import (
    VERSION_OR_HELP,
    UsageError,
    error,
    parse,
    parse_seconds,
    refusal,
    version_or_help,
)
from sysmasterd.cli.devctl_lookup import LookupFailed, find_device
from sysmasterd.devmaster import enumerate as enum

# The daemon's control socket (--wait-daemon), the uevent monitor (--settle) and uuid (tagged
# events) are imported where used: a plain or --dry-run trigger needs none of them.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import socket

ACTIONS = ("add", "remove", "change", "move", "online", "offline", "bind", "unbind")
HELP = """{prog} trigger [OPTIONS] DEVPATH

Request events from the kernel.

  -h --help                         Show this help
  -V --version                      Show package version
  -v --verbose                      Print the list of devices while running
  -n --dry-run                      Do not actually trigger the events
  -q --quiet                        Suppress error logging in triggering events
  -t --type=                        Type of events to trigger
          devices                     sysfs devices (default)
          subsystems                  sysfs subsystems and drivers
  -c --action=ACTION|help           Event action value, default is "change"
  -s --subsystem-match=SUBSYSTEM    Trigger devices from a matching subsystem
  -S --subsystem-nomatch=SUBSYSTEM  Exclude devices from a matching subsystem
  -a --attr-match=FILE[=VALUE]      Trigger devices with a matching attribute
  -A --attr-nomatch=FILE[=VALUE]    Exclude devices with a matching attribute
  -p --property-match=KEY=VALUE     Trigger devices with a matching property
  -g --tag-match=TAG                Trigger devices with a matching tag
  -y --sysname-match=NAME           Trigger devices with this /sys path
     --name-match=NAME              Trigger devices with this /dev name
  -b --parent-match=NAME            Trigger devices with that parent device
     --initialized-match            Trigger devices that are already initialized
     --initialized-nomatch          Trigger devices that are not initialized yet
  -w --settle                       Wait for the triggered events to complete
     --wait-daemon[=SECONDS]        Wait for udevd daemon to be initialized
                                    before triggering uevents
     --uuid                         Print synthetic uevent UUID
     --prioritized-subsystem=SUBSYSTEM[,SUBSYSTEM…]
                                    Trigger devices from a matching subsystem first"""


def _attr(text: str) -> tuple[str, str | None]:
    name, sep, value = text.partition("=")
    return name, value if sep else None


def _parent(name: str, prefix: str | None) -> str | None:
    """A device named on the command line (-b, --name-match or an argument) matches it and
    everything below it, as udevadm adds each as a parent match; None after the error."""
    try:
        return find_device(name, prefix).syspath
    except LookupFailed as e:
        error(f"Failed to open the device '{name}': {e}")
        return None


def wait_daemon(timeout: float) -> bool:
    from sysmasterd.cli import devctl_client as control
    from sysmasterd.devmaster.framework.control_wire import ControlMessage, ControlType

    deadline = time.monotonic() + timeout
    while True:
        try:
            control.send([ControlMessage(ControlType.PING)], max(deadline - time.monotonic(), 0.1))
            return True
        except OSError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)


def _settle(sock: "socket.socket", pending: dict[str, str | None], verbose: bool, show_uuid: bool) -> None:
    from sysmasterd.devmaster.framework import netlink
    from sysmasterd.devmaster.framework.message import MessageError

    while pending:
        ready, _, _ = select.select([sock], [], [], None)
        if not ready:
            continue
        try:
            received = netlink.receive(sock, netlink.GROUP_UDEV)
        except (MessageError, BlockingIOError):
            continue
        syspath = "/sys" + received.properties["DEVPATH"]
        if syspath not in pending:
            continue
        want = pending[syspath]
        if want is not None and received.properties.get("SYNTH_UUID") != want:
            continue
        if verbose:
            print(f"settle {syspath}")
        if show_uuid and want:
            print(f"settle {want}")
        del pending[syspath]


def _uuid() -> str:
    import uuid

    return str(uuid.uuid4())


def main(argv: list[str], prog: str = "udevadm") -> int:
    o = parse("trigger", argv, "vnqt:c:s:S:a:A:p:g:y:b:wVh",
              ["verbose", "dry-run", "quiet", "type=", "action=", "subsystem-match=", "subsystem-nomatch=",
               "attr-match=", "attr-nomatch=", "property-match=", "tag-match=", "sysname-match=",
               "name-match=", "parent-match=", "initialized-match", "initialized-nomatch", "settle",
               "wait-daemon=", "uuid", "prioritized-subsystem=", "version", "help"],
              optional={"": "wait-daemon"})
    f = enum.Filter()
    verbose = dry_run = quiet = settle = show_uuid = False
    kind, action = "devices", "change"
    wait: float | None = None
    prioritized: list[str] = []
    for opt, val in o.opts:
        if opt in ("-v", "--verbose"):
            verbose = True
        elif opt in ("-n", "--dry-run"):
            dry_run = True
        elif opt in ("-q", "--quiet"):
            quiet = True
        elif opt in ("-t", "--type"):
            if val not in ("devices", "subsystems", "all"):
                raise UsageError(f"Unknown type --type={val}")
            kind = val
        elif opt in ("-c", "--action"):
            if val == "help":
                print("\n".join(ACTIONS))
                return 0
            if val not in ACTIONS:
                raise UsageError(f"Unknown action '{val}'")
            action = val
        elif opt in ("-s", "--subsystem-match"):
            f.subsystems.append(val)
        elif opt in ("-S", "--subsystem-nomatch"):
            f.nomatch_subsystems.append(val)
        elif opt in ("-a", "--attr-match"):
            f.attrs.append(_attr(val))
        elif opt in ("-A", "--attr-nomatch"):
            f.nomatch_attrs.append(_attr(val))
        elif opt in ("-p", "--property-match"):
            f.properties.append(_attr(val))
        elif opt in ("-g", "--tag-match"):
            f.tags.append(val)
        elif opt in ("-y", "--sysname-match"):
            f.sysnames.append(val)
        elif opt in ("-b", "--parent-match", "--name-match"):
            if (parent := _parent(val, "/dev" if opt == "--name-match" else "/sys")) is None:
                return 1
            f.parents.append(parent)
        elif opt == "--initialized-match":
            f.initialized = True
        elif opt == "--initialized-nomatch":
            f.initialized = False
        elif opt in ("-w", "--settle"):
            settle = True
        elif opt == "--wait-daemon":
            try:
                wait = parse_seconds(val) if val else 5.0
            except ValueError:
                error(f"Failed to parse timeout value '{val}', ignoring: {refusal(val)}")
                wait = 5.0
        elif opt == "--uuid":
            show_uuid = True
        elif opt == "--prioritized-subsystem":
            prioritized += [s for s in val.split(",") if s]
        elif opt in VERSION_OR_HELP:
            return version_or_help(opt, HELP.format(prog=prog))
    for arg in o.args:
        if (parent := _parent(arg, None)) is None:
            return 1
        f.parents.append(parent)
    if wait is not None and not wait_daemon(wait):
        return error("Failed to wait for daemon to reply: Connection timed out")
    tags_dir = os.path.join(f.run_dir, "tags")
    if kind != "subsystems" and "" in f.tags and os.path.isdir(tags_dir) and os.listdir(tags_dir):
        # sd-device reads the empty tag's directory as the tags directory itself, whose entries
        # (tag names) are no device ids
        return error("Failed to scan devices: Invalid argument")
    found = enum.devices(f) if kind != "subsystems" else []
    # --type=all scans subsystems too, unless a tag asked for devices from the tag index
    if kind == "subsystems" or (kind == "all" and not f.tags):
        found += enum.subsystems(f)
    paths = [d.syspath for d in enum.ordered(found, prioritized)]
    monitor = None
    if settle and not dry_run:
        from sysmasterd.devmaster.framework import netlink

        monitor = netlink.open_uevent_socket(netlink.GROUP_UDEV)
    pending: dict[str, str | None] = {}
    ret = 0
    try:
        for syspath in paths:
            if verbose:
                print(syspath)
            if dry_run:
                continue
            tag = _uuid() if show_uuid or settle else None
            try:
                with open(os.path.join(syspath, "uevent"), "w") as uf:
                    uf.write(f"{action} {tag}" if tag else action)
            except OSError as e:
                if e.errno == errno.EROFS:
                    return error(f"Failed to write '{action}' to '{syspath}/uevent': {e.strerror}")
                if e.errno not in (errno.ENOENT, errno.ENODEV) and not quiet:
                    print(f"Failed to write '{action}' to '{syspath}/uevent': {e.strerror}", file=sys.stderr)
                if e.errno not in (errno.ENOENT, errno.ENODEV) and ret == 0:
                    ret = 1
                continue
            if show_uuid:
                print(tag)
            if monitor is not None:
                pending[syspath] = tag
        sys.stdout.flush()
        if monitor is not None:
            _settle(monitor, pending, verbose, show_uuid)
    finally:
        if monitor is not None:
            with contextlib.suppress(OSError):
                monitor.close()
    return ret
