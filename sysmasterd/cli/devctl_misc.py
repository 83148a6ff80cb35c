"""devctl hwdb, wait and lock: the smaller udevadm verbs."""

import contextlib
import errno
import fcntl
import os
import stat
import subprocess
import sys
import time

from sysmasterd.cli.devctl_common import (
    VERSION_OR_HELP,
    UsageError,
    error,
    man_page,
    parse,
    parse_seconds,
    version_or_help,
)
from sysmasterd.cli.devctl_lookup import device_from_path
from sysmasterd.devmaster.device import Device, DeviceNotFound
from sysmasterd.devmaster.framework import db

HWDB_HELP = (
    "{prog} hwdb [OPTIONS]\n"
    "\n"
    "  -h --help            Print this message\n"
    "  -V --version         Print version of the program\n"
    "  -u --update          Update the hardware database\n"
    "  -s --strict          When updating, return non-zero exit value on any parsing error\n"
    "     --usr             Generate in /lib/udev instead of /etc/udev\n"
    "  -t --test=MODALIAS   Query database and print result\n"
    "  -r --root=PATH       Alternative root path in the filesystem\n"
    "\n"
    "NOTE:\n"
    "The sub-command 'hwdb' is deprecated, and is left for backwards compatibility.\n"
    "Please use systemd-hwdb instead."
)

WAIT_HELP = (
    "{prog} wait [OPTIONS] DEVICE [DEVICE…]\n"
    "\n"
    "Wait for devices or device symlinks being created.\n"
    "\n"
    "  -h --help             Print this message\n"
    "  -V --version          Print version of the program\n"
    "  -t --timeout=SEC      Maximum time to wait for the device\n"
    "     --initialized=BOOL Wait for devices being initialized by systemd-udevd\n"
    "     --removed          Wait for devices being removed\n"
    "     --settle           Also wait for all queued events being processed"
)

# udevadm names itself alone here, not "udevadm lock"
LOCK_HELP = (
    "{prog} [OPTIONS...] COMMAND\n"
    "{prog} [OPTIONS...] --print\n"
    "\n"
    "Lock a block device and run a command.\n"
    "\n"
    "  -h --help            Print this message\n"
    "  -V --version         Print version of the program\n"
    "  -d --device=DEVICE   Block device to lock\n"
    "  -b --backing=FILE    File whose backing block device to lock\n"
    "  -t --timeout=SECS    Block at most the specified time waiting for lock\n"
    "  -p --print           Only show which block device the lock would be taken on\n"
    "\n"
    "See the {man} man page for details."
)

def _write_hwdb(root: str, usr: bool, strict: bool) -> int:
    from sysmasterd.devmaster.builtin.hwdb_compile import compile_root  # only this verb needs the compiler

    data, diagnostics = compile_root(root)
    for diag in diagnostics:
        print(diag, file=sys.stderr)
    target = os.path.join(root, "usr/lib/udev" if usr else "etc/udev", "hwdb.bin")
    if data is None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(target)
        print("No hwdb files found, skipping.", file=sys.stderr)
        return 0
    os.makedirs(os.path.dirname(target), mode=0o755, exist_ok=True)
    tmp = f"{target}.#devctl{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            os.fchmod(f.fileno(), 0o444)
        os.rename(tmp, target)
    except OSError as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        return error(f"Failed to write database {target}: {e.strerror}")
    return 1 if strict and diagnostics else 0


def hwdb_main(argv: list[str], prog: str = "udevadm") -> int:
    o = parse("hwdb", argv, "ust:r:Vh", ["update", "usr", "strict", "test=", "root=", "version", "help"])
    test: str | None = None
    update = usr = strict = False
    root = "/"
    for opt, val in o.opts:
        if opt in ("-t", "--test"):
            test = val
        elif opt in ("-u", "--update"):
            update = True
        elif opt == "--usr":
            usr = True
        elif opt in ("-s", "--strict"):
            strict = True
        elif opt in ("-r", "--root"):
            root = val
        elif opt in VERSION_OR_HELP:
            return version_or_help(opt, HWDB_HELP.format(prog=prog))
    if not update and test is None:
        raise UsageError("Either --update or --test must be used.")
    if update:
        rc = _write_hwdb(root, usr, strict)
        if rc != 0:
            return rc
    if test is not None:
        from sysmasterd.devmaster.builtin.hwdb_trie import HwdbError, open_hwdb

        try:
            hwdb = open_hwdb()
        except (OSError, HwdbError) as e:
            return error(f"Failed to open hwdb: {e}")
        if hwdb is None:
            return error("Failed to open hwdb: No such file or directory")
        for key, value in hwdb.lookup(test).items():
            print(f"{key}={value}")
    return 0


_TRUE, _FALSE = ("1", "yes", "y", "true", "t", "on"), ("0", "no", "n", "false", "f", "off")


def _wait_done(path: str, until: str) -> bool:
    """udevadm wait's check of one device: "removed" (the path is gone), "added" (it names a
    device) or "initialized" (a device the daemon has handled)."""
    if until == "removed":
        return not os.path.lexists(path)
    try:
        dev = device_from_path(path)
    except DeviceNotFound:
        return False
    return until == "added" or db.read_db(dev.device_id) is not None


def wait_main(argv: list[str], prog: str = "udevadm") -> int:
    o = parse("wait", argv, "t:Vh", ["timeout=", "initialized=", "removed", "settle", "help", "version"])
    timeout, until, settle = float("inf"), "initialized", False
    for opt, val in o.opts:
        if opt in ("-t", "--timeout"):
            try:
                timeout = parse_seconds(val)
            except ValueError:
                raise UsageError(f"Failed to parse -t/--timeout= parameter: {val}") from None
        elif opt == "--initialized":
            if val.lower() not in _TRUE + _FALSE:
                raise UsageError(f"Failed to parse --initialized= parameter: {val}")
            until = "initialized" if val.lower() in _TRUE else "added"
        elif opt == "--removed":
            until = "removed"
        elif opt == "--settle":
            settle = True
        elif opt in VERSION_OR_HELP:
            return version_or_help(opt, WAIT_HELP.format(prog=prog))
    if not o.args:
        raise UsageError("Too few arguments, expected at least one device path or device symlink.")
    for name in o.args:
        parts = [p for p in name.split("/") if p and p != "."]
        if ".." in parts:
            raise UsageError('Device path cannot contain "..".')
        if not name.startswith("/") or len(parts) < 2 or parts[0] not in ("dev", "sys"):
            simplified = ("/" if name.startswith("/") else "") + "/".join(parts)
            raise UsageError(f'Specified path "{simplified}" does not start with "/dev/" or "/sys/".')
    deadline = time.monotonic() + timeout
    while True:
        if (not settle or not os.path.exists("/run/udev/queue")) and all(_wait_done(p, until) for p in o.args):
            return 0
        if time.monotonic() >= deadline:
            return error(f"Timed out for waiting devices being {until}.")
        time.sleep(0.05)


def _whole_disk(path: str) -> str:
    """The whole disk of a block device node (OSError with udevadm's errno when there is none)."""
    st = os.stat(path)
    if not stat.S_ISBLK(st.st_mode):
        raise OSError(errno.ENOTBLK, os.strerror(errno.ENOTBLK))
    try:
        dev = Device.from_devnum("b", os.major(st.st_rdev), os.minor(st.st_rdev))
    except DeviceNotFound:
        raise OSError(errno.ENODEV, os.strerror(errno.ENODEV)) from None
    if dev.devtype == "partition" and dev.parent is not None and dev.parent.devname:
        return dev.parent.devname
    return dev.devname or path


def lock_main(argv: list[str], prog: str = "udevadm") -> int:
    print_only = "--print" in argv or "-p" in argv
    o = parse("lock", argv, "hVd:b:t:p", ["help", "version", "device=", "backing=", "timeout=", "print"])
    nodes: list[str] = []
    backing: list[str] = []
    timeout = float("inf")
    for opt, val in o.opts:
        if opt in ("-d", "--device", "-b", "--backing"):
            (nodes if opt in ("-d", "--device") else backing).append(os.path.normpath(os.path.abspath(val)))
        elif opt in ("-t", "--timeout"):
            try:
                timeout = parse_seconds(val)
            except ValueError:
                raise UsageError(f"Failed to parse --timeout= parameter: {val}") from None
        elif opt in VERSION_OR_HELP:
            return version_or_help(opt, LOCK_HELP.format(prog=prog, man=man_page(prog)))
    if print_only:
        if o.args:
            raise UsageError("No arguments expected")
    elif not o.args:
        raise UsageError("Too few arguments, command to execute.")
    if not nodes and not backing:
        raise UsageError("No devices to lock specified, refusing.")
    found = []
    for path, whole_disk in [(p, _whole_disk) for p in dict.fromkeys(nodes)] + [
            (p, _backing) for p in dict.fromkeys(backing)]:
        try:
            found.append(whole_disk(path))
        except OSError as e:
            return error(f"Failed to find whole block device for '{path}': {e.strerror}")
    devices = sorted(set(found))
    if print_only:
        print("\n".join(devices))
        return 0
    fds = []
    try:
        deadline = time.monotonic() + timeout
        for path in devices:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY)
            fds.append(fd)
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if timeout == 0:
                        return error(f"Device '{path}' is currently locked.")
                    if time.monotonic() >= deadline:
                        return error("Timeout reached.")
                    time.sleep(0.05)
        try:
            return subprocess.run(o.args).returncode
        except OSError as e:
            print(f"Failed to execute {o.args[0]}: {e.strerror}", file=sys.stderr)
            return 1
    finally:
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)


def _backing(path: str) -> str:
    st = os.stat(path)
    try:
        dev = Device.from_devnum("b", os.major(st.st_dev), os.minor(st.st_dev))
    except DeviceNotFound:
        raise OSError(errno.ENODEV, os.strerror(errno.ENODEV)) from None
    if dev.devtype == "partition" and dev.parent is not None and dev.parent.devname:
        return dev.parent.devname
    if not dev.devname:
        raise OSError(errno.ENODEV, os.strerror(errno.ENODEV))
    return dev.devname
