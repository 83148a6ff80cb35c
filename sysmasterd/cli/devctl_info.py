"""devctl info: query the udev database (udevadm info)."""

import contextlib
import errno
import os
import string
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
    with_db,
)
from sysmasterd.cli.devctl_lookup import LookupFailed, find_device
from sysmasterd.devmaster.device import Device
from sysmasterd.devmaster.framework import db

HELP = """{prog} info [OPTIONS] [DEVPATH|FILE]

Query sysfs or the udev database.

  -h --help                   Print this message
  -V --version                Print version of the program
  -q --query=TYPE             Query device information:
       name                     Name of device node
       symlink                  Pointing to node
       path                     sysfs device path
       property                 The device properties
       all                      All values
     --property=NAME          Show only properties by this name
     --value                  When showing properties, print only their values
  -p --path=SYSPATH           sysfs device path used for query or attribute walk
  -n --name=NAME              Node or symlink name used for query or attribute walk
  -r --root                   Prepend dev directory to path names
  -a --attribute-walk         Print all key matches walking along the chain
                              of parent devices
  -t --tree                   Show tree of devices
  -d --device-id-of-file=FILE Print major:minor of device containing this file
  -x --export                 Export key/value pairs
  -P --export-prefix          Export the key name with a prefix
  -e --export-db              Export the content of the udev database
  -c --cleanup-db             Clean up the udev database
  -w --wait-for-initialization[=SECONDS]
                              Wait for device to be initialized
     --no-pager               Do not pipe output into a pager"""

_SKIP_ATTRS = frozenset({"uevent", "dev", "modalias", "resource", "driver", "subsystem", "module"})


def _properties(dev: Device) -> dict[str, str]:
    """sd-device lists no properties of a device without a subsystem (its db has no id to be
    found by): a plain sysfs directory such as /sys/kernel/mm."""
    return dev.all_properties() if dev.subsystem else {}


def print_record(dev: Device, prefix: str = "") -> None:
    out = [f"{prefix}P: {dev.devpath}", f"{prefix}M: {dev.sysname}"]
    if dev.sysnum is not None:
        out.append(f"{prefix}R: {dev.sysnum}")
    if dev.subsystem:
        out.append(f"{prefix}U: {dev.subsystem}")
    if dev.devtype:
        out.append(f"{prefix}T: {dev.devtype}")
    if dev.devnum is not None:
        kind = "b" if dev.subsystem == "block" else "c"
        out.append(f"{prefix}D: {kind} {dev.devnum[0]}:{dev.devnum[1]}")
    if dev.ifindex is not None:
        out.append(f"{prefix}I: {dev.ifindex}")
    if dev.devname:
        out.append(f"{prefix}N: {dev.devname.removeprefix('/dev/')}")
        out.append(f"{prefix}L: {dev.devlink_priority}")
        out += [f"{prefix}S: {link.removeprefix('/dev/')}" for link in sorted(dev.devlinks)]
    if dev.properties.get("DISKSEQ"):
        out.append(f"{prefix}Q: {dev.properties['DISKSEQ']}")
    if dev.driver:
        out.append(f"{prefix}V: {dev.driver}")
    out += [f"{prefix}E: {k}={v}" for k, v in _properties(dev).items()]
    print("\n".join(out))
    if not prefix:
        print()


def _attributes(dev: Device, parent: bool) -> None:
    print(f"  looking at {'parent ' if parent else ''}device '{dev.devpath}':")
    print(f'    {"KERNELS" if parent else "KERNEL"}=="{dev.sysname}"')
    print(f'    {"SUBSYSTEMS" if parent else "SUBSYSTEM"}=="{dev.subsystem or ""}"')
    print(f'    {"DRIVERS" if parent else "DRIVER"}=="{dev.driver or ""}"')
    found: list[tuple[str, str]] = []
    for name in _attr_names(dev.syspath):
        if name in _SKIP_ATTRS:
            continue
        path = os.path.join(dev.syspath, name)
        if os.path.islink(path):
            continue
        try:
            with open(path, "rb") as f:
                raw = f.read(4096)
        except PermissionError:
            found.append((name, "(not readable)"))
            continue
        except OSError:
            continue
        value = raw.decode(errors="replace").rstrip("\n")
        if value.startswith("/") or any(c not in string.printable or c in "\t\n\r\x0b\x0c" for c in value):
            continue
        found.append((name, value))
    for name, value in sorted(found):
        print(f'    {"ATTRS" if parent else "ATTR"}{{{name}}}=="{value}"')
    print()


def _attr_names(syspath: str, sub: str = "") -> list[str]:
    """sd-device's sysattr list: readable files and links, recursing into non-device subdirectories."""
    base = os.path.join(syspath, sub)
    if sub and os.path.exists(os.path.join(base, "uevent")):
        return []
    names = []
    try:
        entries = sorted(os.scandir(base), key=lambda e: e.name)
    except OSError:
        return []
    for entry in entries:
        name = f"{sub}/{entry.name}" if sub else entry.name
        try:
            if entry.is_dir(follow_symlinks=False):
                names += _attr_names(syspath, name)
            elif entry.stat(follow_symlinks=False).st_mode & 0o600:
                names.append(name)
        except OSError:
            continue
    return names


def attribute_walk(dev: Device) -> None:
    print("\nUdevadm info starts with the device specified by the devpath and then\n"
          "walks up the chain of parent devices. It prints for every device\n"
          "found, all possible attributes in the udev rules key format.\n"
          "A rule to match, can be composed by the attributes of the device\n"
          "and the attributes from one single parent device.\n")
    for i, d in enumerate(dev.ancestors()):
        _attributes(d, i > 0)


def _draw(devs: list[Device], parent: Device | None, prefix: str) -> None:
    i = 0
    while i < len(devs):
        dev = devs[i]
        j = i + 1
        more = False
        while j < len(devs):
            nxt = devs[j].devpath
            if not nxt.startswith(dev.devpath + "/"):
                more = parent is None or nxt.startswith(parent.devpath + "/")
                break
            j += 1
        label = dev.devpath[len(parent.devpath) + 1:] if parent is not None else dev.devpath
        print(f"{prefix}{'├─' if more else '└─'}{label}")
        sub = prefix + ("│ " if more else "  ")
        print_record(with_db(dev), sub + "┆ ")
        _draw(devs[i + 1 : j], dev, sub)
        i = j


def _tree(below: Device | None) -> int:
    from sysmasterd.devmaster import enumerate as enum  # drags in the rules translator's glob

    found = enum.devices(enum.Filter()) + enum.subsystems(enum.Filter())
    if below is not None:
        found = [d for d in found if d.devpath.startswith(below.devpath + "/")]
        found += below.ancestors()
    devs = sorted({d.devpath: d for d in found}.values(), key=lambda d: d.devpath)
    if not devs:
        print("No items.", file=sys.stderr)
        return 0
    _draw(devs, None, "")
    print(f"\n{len(devs)} items shown.")
    return 0


def _cleanup_db(run_dir: str = db.RUN_UDEV) -> None:
    data = os.path.join(run_dir, "data")
    for name in os.listdir(data) if os.path.isdir(data) else []:
        path = os.path.join(data, name)
        with contextlib.suppress(OSError):
            if not os.stat(path).st_mode & 0o1000:
                os.unlink(path)
    import shutil  # --cleanup-db's alone

    for sub in ("links", "tags", "static_node-tags"):
        with contextlib.suppress(OSError):
            shutil.rmtree(os.path.join(run_dir, sub))


def _wait_initialized(dev: Device, timeout: float) -> Device:
    deadline = time.monotonic() + timeout
    while db.read_db(dev.device_id) is None:
        if time.monotonic() > deadline:
            raise TimeoutError
        time.sleep(0.05)
    return dev


def main(argv: list[str], prog: str = "udevadm") -> int:
    o = parse("info", argv, "atced:n:p:q:rxP:Vh",
              ["attribute-walk", "tree", "cleanup-db", "device-id-of-file=", "export", "export-db",
               "export-prefix=", "help", "name=", "path=", "property=", "query=", "root", "value",
               "version", "wait-for-initialization=", "no-pager"],
              optional={"w": "wait-for-initialization"},
              immediate=("-e", "--export-db", "-c", "--cleanup-db", "-V", "--version", "-h", "--help"))
    action, query = "query", "all"
    devices: list[str] = []
    root = export = value_only = False
    export_prefix: str | None = None
    properties: list[str] | None = None
    wait: float | None = None
    id_file: str | None = None
    for opt, val in o.opts:
        if opt == "--property":
            # an empty first list shows no property at all; empty items are dropped otherwise
            names = [p for p in val.split(",") if p]
            if names or (not val and properties is None):
                properties = list(dict.fromkeys((properties or []) + names))
        elif opt == "--value":
            value_only = True
        elif opt in ("-n", "--name", "-p", "--path"):
            # joined as udevadm joins them: "-p /devices/x" names "/sys//devices/x" in its errors
            prefix = "/dev" if opt in ("-n", "--name") else "/sys"
            devices.append(val if val == prefix or val.startswith(prefix + "/") else f"{prefix}/{val}")
        elif opt in ("-q", "--query"):
            action, query = "query", {"env": "property"}.get(val, val)
            if query not in ("property", "name", "symlink", "path", "all"):
                raise UsageError("unknown query type")
        elif opt in ("-r", "--root"):
            root = True
        elif opt in ("-d", "--device-id-of-file"):
            action, id_file = "device-id", val
        elif opt in ("-a", "--attribute-walk"):
            action = "walk"
        elif opt in ("-t", "--tree"):
            action = "tree"
        elif opt in ("-e", "--export-db"):
            from sysmasterd.devmaster import enumerate as enum

            for dev in enum.devices(enum.Filter()):
                print_record(with_db(dev))
            return 0
        elif opt in ("-c", "--cleanup-db"):
            _cleanup_db()
            return 0
        elif opt in ("-x", "--export"):
            export = True
        elif opt in ("-P", "--export-prefix"):
            export, export_prefix = True, val
        elif opt in ("-w", "--wait-for-initialization"):
            try:
                wait = parse_seconds(val) if val else float("inf")
            except ValueError:
                raise UsageError(f"Failed to parse timeout value: {refusal(val)}") from None
        elif opt in VERSION_OR_HELP:
            return version_or_help(opt, HELP.format(prog=prog))
    if action == "device-id":
        assert id_file is not None
        if o.args:
            raise UsageError("Positional arguments are not allowed with -d/--device-id-of-file.")
        try:
            st = os.stat(id_file)
        except OSError:
            return 1  # udevadm says nothing here either
        major, minor = os.major(st.st_dev), os.minor(st.st_dev)
        if export:
            p = export_prefix if export_prefix is not None else "INFO_"
            print(f"{p}MAJOR={major}\n{p}MINOR={minor}")
        else:
            print(f"{major}:{minor}")
        return 0
    devices += o.args
    if action != "tree" and not devices:
        raise UsageError("A device name or path is required")
    if action in ("walk", "tree") and len(devices) > 1:
        raise UsageError("Only one device may be specified with -a/--attribute-walk and -t/--tree")
    if export and value_only:
        raise UsageError("-x/--export or -P/--export-prefix cannot be used with --value")
    if action == "tree" and not devices:
        return _tree(None)
    ret = 0
    for name in devices:
        try:
            dev = find_device(name, subsystem_first=action != "query" or query == "all")
            if wait is not None:
                _wait_initialized(dev, wait)
        except LookupFailed as e:
            print(f'Bad argument "{name}", expected an absolute path in /dev/ or /sys/ or a unit name: {e}'
                  if e.errno == errno.EINVAL else f'Unknown device "{name}": {e}', file=sys.stderr)
            ret = 1
            continue
        except TimeoutError:
            print(f"Failed to wait for device \"{name}\" to be initialized: Connection timed out",
                  file=sys.stderr)
            ret = 1
            continue
        with_db(dev)
        if action == "walk":
            attribute_walk(dev)
        elif action == "tree":
            _tree(dev)
        else:
            ret = _query(dev, query, root, export, export_prefix, value_only, properties) or ret
    return ret


def _query(dev: Device, query: str, root: bool, export: bool, export_prefix: str | None, value_only: bool,
           properties: list[str] | None) -> int:
    if query == "name":
        if not dev.devname:
            return error("No device node found: No such file or directory")
        print(dev.devname if root else dev.devname.removeprefix("/dev/"))
    elif query == "symlink":
        print(" ".join(link if root else link.removeprefix("/dev/") for link in sorted(dev.devlinks)))
    elif query == "path":
        print(dev.devpath)
    elif query == "property":
        for key, value in _properties(dev).items():
            if properties is not None and key not in properties:
                continue
            if export:
                print(f"{export_prefix or ''}{key}='{value}'")
            elif value_only:
                print(value)
            else:
                print(f"{key}={value}")
    else:
        print_record(dev)
    return 0
