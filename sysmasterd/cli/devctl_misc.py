"""devctl hwdb, wait and lock: the smaller udevadm verbs."""

import contextlib
import fcntl
import os
import subprocess
import sys
import time

from sysmasterd.cli.devctl_common import VERSION_OR_HELP, UsageError, error, parse, parse_seconds, version_or_help
from sysmasterd.devmaster.device import Device, DeviceNotFound
from sysmasterd.devmaster.framework import db

HWDB_HELP = (
    "{prog} hwdb [OPTIONS]\n"
    "\n"
    "  -u --update          Update the hardware database\n"
    "  -s --strict          When updating, return non-zero exit value on any parsing error\n"
    "     --usr            Generate in /usr/lib/udev instead of /etc/udev\n"
    "  -t --test=MODALIAS   Query database and print result\n"
    "  -r --root=PATH       Alternative root path in the filesystem\n"
    "  -h --help            Show this help"
)

WAIT_HELP = (
    "{prog} wait [OPTIONS] DEVICE [DEVICE…]\n"
    "\n"
    "Wait for devices or device symlinks being created.\n"
    "\n"
    "  -t --timeout=SEC        Maximum time to wait for the device\n"
    "     --initialized=BOOL  Wait for devices being initialized by systemd-udevd\n"
    "     --removed           Wait for devices being removed\n"
    "     --settle            Also wait for all queued events being processed"
)

LOCK_HELP = (
    "{prog} lock [OPTIONS...] COMMAND\n"
    "{prog} lock [OPTIONS...] --print\n"
    "\n"
    "Lock a block device and run a command.\n"
    "\n"
    "  -d --device=DEVICE  Block device to lock\n"
    "  -b --backing=FILE   File whose backing block device to lock\n"
    "  -t --timeout=SECS   Block at most the specified time waiting for lock\n"
    "  -p --print          Only show which block device the lock would be taken on"
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


def _resolve(name: str) -> Device:
    if name.startswith("/dev/"):
        return Device.from_devname(name)
    return Device.from_syspath(name if name.startswith("/sys/") else "/sys/" + name.lstrip("/"))


def wait_main(argv: list[str], prog: str = "udevadm") -> int:
    o = parse("wait", argv, "t:Vh", ["timeout=", "initialized=", "removed", "settle", "version", "help"])
    timeout, initialized, removed, settle = float("inf"), True, False, False
    for opt, val in o.opts:
        if opt in ("-t", "--timeout"):
            timeout = parse_seconds(val)
        elif opt == "--initialized":
            if val.lower() not in ("yes", "no", "true", "false", "1", "0", "on", "off"):
                raise UsageError(f"Failed to parse --initialized= parameter: {val}")
            initialized = val.lower() in ("yes", "true", "1", "on")
        elif opt == "--removed":
            removed = True
        elif opt == "--settle":
            settle = True
        elif opt in VERSION_OR_HELP:
            return version_or_help(opt, WAIT_HELP.format(prog=prog))
    if not o.args:
        raise UsageError("Too few arguments, expected at least one device path or device symlink.")
    deadline = time.monotonic() + timeout
    while True:
        done = True
        for name in o.args:
            try:
                dev = _resolve(name)
                present = not initialized or db.read_db(dev.device_id) is not None
            except DeviceNotFound:
                present = False
            if present == removed:
                done = False
        if done and (not settle or not os.path.exists("/run/udev/queue")):
            return 0
        if time.monotonic() >= deadline:
            return error("Timed out for waiting devices being " + ("removed." if removed else "initialized."))
        time.sleep(0.05)


def _whole_disk(path: str) -> str:
    dev = Device.from_devname(path)
    if dev.subsystem != "block":
        raise DeviceNotFound(f"'{path}' is not a block device")
    if dev.devtype == "partition" and dev.parent is not None and dev.parent.devname:
        return dev.parent.devname
    return dev.devname or path


def lock_main(argv: list[str], prog: str = "udevadm") -> int:
    print_only = "--print" in argv or "-p" in argv
    o = parse("lock", argv, "hVd:b:t:p", ["help", "version", "device=", "backing=", "timeout=", "print"])
    devices: list[str] = []
    timeout = float("inf")
    for opt, val in o.opts:
        if opt in ("-d", "--device", "-b", "--backing"):
            path = os.path.abspath(val)
            try:
                devices.append(_whole_disk(path) if opt in ("-d", "--device") else _backing(path))
            except (DeviceNotFound, OSError) as e:
                return error(f"Failed to find whole block device for '{val}': {e}")
        elif opt in ("-t", "--timeout"):
            timeout = parse_seconds(val)
        elif opt in VERSION_OR_HELP:
            return version_or_help(opt, LOCK_HELP.format(prog=prog))
    if print_only:
        if o.args:
            raise UsageError("No arguments expected")
    elif not o.args:
        raise UsageError("Too few arguments, command to execute.")
    if not devices:
        raise UsageError("No devices to lock specified, refusing.")
    devices = sorted(set(devices))
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
    dev = Device.from_devnum("b", os.major(st.st_dev), os.minor(st.st_dev))
    if dev.devtype == "partition" and dev.parent is not None and dev.parent.devname:
        return dev.parent.devname
    if not dev.devname:
        raise DeviceNotFound(path)
    return dev.devname
