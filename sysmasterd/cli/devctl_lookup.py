"""udevadm's find_device(): a device named by a path in /dev or /sys (relative paths from the
working directory, or below a verb's prefix), or by its .device unit: the manager's SysFSPath of
the unit when a manager answers, else the path the unit name escapes. Failures carry udevadm's
errno: ENODEV for a path that names no device, EINVAL for what is neither path nor unit name."""

from __future__ import annotations

import errno
import os
import re
import string

from sysmasterd.devmaster.device import Device, DeviceNotFound

_VALID = frozenset(string.ascii_letters + string.digits + ":-_.\\")
_LABEL = frozenset(string.ascii_letters + string.digits)
UNIT_NAME_MAX = 256
PRIVATE = "unix:path=/run/systemd/private"
SYSTEM_BUS = "unix:path=/run/dbus/system_bus_socket"
# sd-bus's errno for the bus errors a property read can end in (others read as EIO)
_BUS_ERRNO = {
    "org.freedesktop.systemd1.NoSuchUnit": errno.ENOENT,
    "org.freedesktop.DBus.Error.AccessDenied": errno.EACCES,
    "org.freedesktop.DBus.Error.InvalidArgs": errno.EINVAL,
    "org.freedesktop.DBus.Error.UnknownObject": errno.EBADR,
    "org.freedesktop.DBus.Error.UnknownInterface": errno.EBADR,
    "org.freedesktop.DBus.Error.UnknownProperty": errno.EBADR,
    "org.freedesktop.DBus.Error.UnknownMethod": errno.EBADR,
    "org.freedesktop.DBus.Error.NoReply": errno.ETIMEDOUT,
}


class LookupFailed(DeviceNotFound):
    """The lookup's errno, as udevadm reports it (its strerror is the message)."""

    def __init__(self, code: int) -> None:
        super().__init__(os.strerror(code))
        self.errno = code


def is_device_unit_name(name: str) -> bool:
    """unit_name_is_valid(name, UNIT_NAME_PLAIN) for a .device unit."""
    stem, dot, suffix = name.rpartition(".")
    return (bool(dot and stem) and suffix == "device" and len(name) < UNIT_NAME_MAX
            and all(c in _VALID for c in stem))


def unit_path_of(name: str) -> str | None:
    """unit_name_path_unescape() of the unit's stem: "-" is "/", "\\xNN" a byte; None if invalid."""
    stem = name.rpartition(".")[0]
    if stem == "-":
        return "/"
    out = bytearray()
    i = 0
    while i < len(stem):
        c = stem[i]
        if c == "-":
            out += b"/"
        elif c != "\\":
            out += c.encode()
        elif stem[i + 1 : i + 2] == "x" and all(h in string.hexdigits for h in stem[i + 2 : i + 4]) \
                and len(stem) >= i + 4:
            out.append(int(stem[i + 2 : i + 4], 16))
            i += 3
        else:
            return None
        i += 1
    path = out.decode(errors="surrogateescape")
    if path.startswith("/") or path.endswith("/") or any(p in ("", ".", "..") for p in path.split("/")):
        return None
    return "/" + path


def bus_label(name: str) -> str:
    """bus_label_escape(): a unit name as the last element of its object path."""
    return "".join(c if c in _LABEL else f"_{ord(c):02x}" for c in name) or "_"


def _sysfs_path_from_manager(name: str, trace: list[str]) -> str | None:
    """The manager's SysFSPath of the unit; None when no manager answers (as root on its private
    socket, else on the system bus); LookupFailed when it answers with an error."""
    from sysmasterd.cli.dbuswire import METHOD_CALL, CallFailed, Connection, Message, socket_address

    addresses = [PRIVATE] if os.geteuid() == 0 else []
    addresses.append(os.environ.get("DBUS_SYSTEM_BUS_ADDRESS", SYSTEM_BUS))
    failure = "No such file or directory"
    for address in addresses:
        trace += ["Bus n/a: changing state UNSET \u2192 OPENING",
                  f"sd-bus: starting bus by connecting to {socket_address(address)!s}..."]
        try:
            conn = Connection(address, bus=address != PRIVATE)
        except (OSError, CallFailed) as e:
            failure = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            trace.append("Bus n/a: changing state OPENING \u2192 CLOSED")
            continue
        try:
            reply = conn.call(Message(METHOD_CALL, path="/org/freedesktop/systemd1/unit/" + bus_label(name),
                                      interface="org.freedesktop.DBus.Properties", member="Get",
                                      destination="org.freedesktop.systemd1", signature="ss",
                                      body=["org.freedesktop.systemd1.Device", "SysFSPath"]))
        except CallFailed as e:
            trace.append(f"Failed to get SysFSPath= dbus property for {name}: {e.text}")
            raise LookupFailed(_BUS_ERRNO.get(e.name, errno.EIO)) from None
        except OSError:
            raise LookupFailed(errno.ECONNRESET) from None
        finally:
            conn.close()
        value = reply.body[0].value if reply.body else ""
        return value if isinstance(value, str) else ""
    trace.append(f"Failed to open connection to systemd, using unit name as syspath: {failure}")
    return None


def _device_of_unit(name: str, subsystem_first: bool | None, trace: list[str]) -> Device:
    if not is_device_unit_name(name):
        raise LookupFailed(errno.EINVAL)
    syspath = _sysfs_path_from_manager(name, trace)
    if syspath is None:
        path = unit_path_of(name)
        if path is None:
            raise LookupFailed(errno.EINVAL)
        return _from_path(path, subsystem_first, trace)
    if not syspath.startswith("/sys/"):
        raise LookupFailed(errno.EINVAL)
    return _from_path(syspath, subsystem_first, trace)


def path_rest(path: str, prefix: str) -> str | None:
    """systemd's path_startswith(): what follows `prefix` in `path`, compared by components."""
    if path.startswith("/") != prefix.startswith("/"):
        return None
    have = [c for c in path.split("/") if c]
    want = [c for c in prefix.split("/") if c]
    return "/".join(have[len(want):]) if have[: len(want)] == want else None


_DEVNUM_PATH = re.compile(r"(block|char)/(\d+):(\d+)")


def _from_path(path: str, subsystem_first: bool | None, trace: list[str]) -> Device:
    """sd_device_new_from_path(): a node or link in /dev, else a syspath; what sd-device traces at
    debug level on the way goes to `trace`."""
    rest = path_rest(path, "/dev")
    try:
        if rest is None:
            return Device.from_syspath(path, subsystem_first)
        if not rest:
            raise LookupFailed(errno.EINVAL)
        numbers = _DEVNUM_PATH.fullmatch(rest)
        if numbers:  # "/dev/block/M:m" needs no node: the device number names the device
            return Device.from_devnum(numbers[1][0], int(numbers[2]), int(numbers[3]))
        return Device.from_devname(path)
    except LookupFailed:
        raise
    except DeviceNotFound as e:
        trace += [str(e)] if str(e).startswith("sd-device:") else []
        raise LookupFailed(errno.ENODEV) from None


def device_from_path(path: str) -> Device:
    """sd_device_new_from_path() alone: DeviceNotFound when the path names no device."""
    return _from_path(path, True, [])


def find_device(name: str, prefix: str | None = None, subsystem_first: bool | None = True,
                trace: list[str] | None = None) -> Device:
    """The device `name` stands for; LookupFailed (ENODEV or EINVAL) when there is none.
    subsystem_first=False: SUBSYSTEM= after the uevent file's keys, as a lookup that only lists
    the properties (never asking for the subsystem first) shows them; None: a device found by its
    syspath has no SUBSYSTEM= yet (one found by its node has, after the uevent file's keys, as
    sd-device checks a node's subsystem). sd-device's debug trace of
    the lookup goes to `trace`."""
    trace = [] if trace is None else trace
    paths = [name]
    if prefix and path_rest(name, prefix) is None:
        paths.append(prefix.rstrip("/") + "/" + name.lstrip("/"))
    for path in paths:
        try:
            return _from_path(path, subsystem_first, trace)
        except LookupFailed:
            pass
    if "/" in name:
        raise LookupFailed(errno.ENODEV)
    return _device_of_unit(name, subsystem_first, trace)
