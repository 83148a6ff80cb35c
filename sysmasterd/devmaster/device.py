"""A device as udev sees it: sysfs facts read lazily, properties, tags, links, db state.

One object per event in a worker; sysfs attributes are read at most once per
object, as udev caches them per event.
"""

import os
import re
import stat

TYPE_CHECKING = False  # typing's own import costs devctl more than it gains; mypy knows the name
if TYPE_CHECKING:
    from _collections_abc import dict_items, dict_keys, dict_values
    from collections.abc import Iterable, Iterator
    from typing import Any

SYSFS = "/sys"
_SYSNUM = re.compile(r"(\d+)$")


class DeviceNotFound(LookupError):
    pass


def _read_link_name(path: str) -> str | None:
    try:
        return os.path.basename(os.readlink(path))
    except OSError:
        return None


def _implicit_subsystem(syspath: str, devpath: str) -> str | None:
    """sd-device's subsystem of a sysfs directory without a subsystem link: modules, drivers and
    the bus/class directories are "devices" of the pseudo subsystems module, drivers, subsystem."""
    if devpath.startswith("/module/") and devpath.strip("/") != "module":
        return "module"
    if "/drivers/" in syspath or syspath.endswith("/drivers"):
        return "drivers"
    if devpath.startswith(("/class/", "/bus/")) and devpath.strip("/") not in ("class", "bus"):
        return "subsystem"
    return None


def _drivers_bus(devpath: str) -> str:
    """The path component before "/drivers" (sd-device's driver subsystem: the bus of a driver)."""
    head = devpath.split("/drivers/", 1)[0] if "/drivers/" in devpath else devpath.removesuffix("/drivers")
    return os.path.basename(head)


def syspath_refusal(real: str) -> str | None:
    """Why sd-device takes a canonical path for no device (None: it is one): below /sys/devices a
    device has a uevent file; elsewhere in sysfs any directory is one, but not /sys itself nor
    another file system mounted below it (cgroups, debugfs...). An empty reason is one sd-device
    only traces (a directory below /sys/devices without a uevent file)."""
    if real != SYSFS and not real.startswith(SYSFS + "/"):
        return f"Canonicalized path '{real}' does not starts with sysfs mount point '{SYSFS}'"
    if real == SYSFS + "/devices" or real.startswith(SYSFS + "/devices/"):
        if os.path.exists(os.path.join(real, "uevent")):
            return None
        return "" if os.path.isdir(real) else f'the syspath "{real}" is not a directory.'
    try:
        st = os.stat(real)
        if not stat.S_ISDIR(st.st_mode):
            return f'the syspath "{real}" is not a directory.'
        if st.st_dev != os.stat(SYSFS).st_dev:
            return f'the syspath "{real}" is outside of sysfs, refusing.'
    except OSError:
        return ""
    return '"/sys" alone is not a valid device path.' if real == SYSFS else None


def parse_uevent_file(text: str) -> dict[str, str]:
    props: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key:
            props[key] = value
    return props


class Properties(dict[str, str]):
    """A device's properties in sd-device's order. DEVLINKS, TAGS and CURRENT_TAGS are written into
    the map when properties are next read after the links or tags changed (sd-device's
    device_properties_prepare()), which fixes where they are listed: `udevadm test` and the
    broadcast show them there. While they lag behind, the map's class is _LaggingProperties, whose
    reads bring them up to date first; swapping the class keeps every other read at dict speed."""

    __slots__ = ("device",)

    def __init__(self, device: "Device", items: dict[str, str] | None = None) -> None:
        super().__init__(items or {})
        self.device = device


class _LaggingProperties(Properties):
    __slots__ = ()

    def _prepared(self) -> Properties:
        self.device.prepare_properties()
        return self

    def get(self, key: str, default: "Any" = None) -> "Any":
        return self._prepared().get(key, default)

    def __getitem__(self, key: str) -> str:
        return self._prepared()[key]

    def __contains__(self, key: object) -> bool:
        return key in self._prepared()

    def __iter__(self) -> "Iterator[str]":
        return iter(self._prepared())

    def items(self) -> "dict_items[str, str]":
        return self._prepared().items()

    def keys(self) -> "dict_keys[str, str]":
        return self._prepared().keys()

    def values(self) -> "dict_values[str, str]":
        return self._prepared().values()


class TrackedSet(set[str]):
    """Links and tags: a change leaves the device's DEVLINKS/TAGS properties lagging behind."""

    __slots__ = ("properties",)

    def __init__(self, properties: Properties) -> None:
        super().__init__()
        self.properties = properties

    def _changed(self) -> None:
        self.properties.__class__ = _LaggingProperties

    def add(self, item: str) -> None:
        super().add(item)
        self._changed()

    def discard(self, item: object) -> None:
        super().discard(item)
        self._changed()

    def clear(self) -> None:
        super().clear()
        self._changed()

    def update(self, *items: "Iterable[str]") -> None:
        super().update(*items)
        self._changed()


# A plain class, not a dataclass: devctl's start-up does not pay for dataclasses (and inspect).
class Device:
    def __init__(self, syspath: str, properties: dict[str, str] | None = None) -> None:
        self.syspath = syspath
        self.properties: dict[str, str] = Properties(self, properties)
        # keys set by rules/imports: written to the db as E: lines
        self.db_keys: set[str] = set()
        self.tags: set[str] = TrackedSet(self.properties)
        self.current_tags: set[str] = TrackedSet(self.properties)
        self.devlinks: set[str] = TrackedSet(self.properties)
        self.devlink_priority = 0
        self.usec_initialized = 0
        self.db_persist = False
        self._attrs: dict[str, str | None] = {}
        self._parent: Device | None = None
        self._parent_read = False
        self._sysname: str | None = None
        # (subsystem,) once looked up in sysfs: devices without one (bus roots) are asked for it
        # on every SUBSYSTEMS== of every line as the parents are walked
        self._subsystem_link: tuple[str | None] | None = None

    def __repr__(self) -> str:
        return f"Device({self.syspath!r})"

    # ---- construction -------------------------------------------------
    @classmethod
    def from_syspath(cls, path: str, subsystem_first: bool | None = True) -> "Device":
        """A device from sysfs. Property order follows sd-device: SUBSYSTEM comes right after DEVPATH
        unless the device was looked up by device number (then the uevent file is read first);
        subsystem_first=None leaves it out, for a caller that adds it where it first asks."""
        real = os.path.realpath(path)
        refusal = syspath_refusal(real)
        if refusal is not None:
            if not os.path.exists(real):
                raise DeviceNotFound(f'sd-device: Failed to chase symlinks in "{path}".')
            raise DeviceNotFound(f"sd-device: {refusal}" if refusal else f"no device at {path}")
        dev = cls(real)
        dev.properties["DEVPATH"] = dev.devpath
        subsystem = dev.subsystem
        if subsystem and subsystem_first:
            dev.properties["SUBSYSTEM"] = subsystem
        try:
            with open(os.path.join(real, "uevent")) as f:
                text = f.read()
        except OSError:
            text = ""
        props = parse_uevent_file(text)
        # sd-device sets the device number (MAJOR/MINOR) after the rest of the file
        devnum = {k: props.pop(k) for k in ("MAJOR", "MINOR") if k in props}
        dev._merge_kernel(props | devnum)
        if subsystem and subsystem_first is not None:
            dev.properties.setdefault("SUBSYSTEM", subsystem)
        return dev

    @classmethod
    def from_uevent(cls, props: dict[str, str]) -> "Device":
        dev = cls(SYSFS + props["DEVPATH"])
        dev._merge_kernel(props)
        return dev

    @classmethod
    def from_devnum(cls, kind: str, major: int, minor: int) -> "Device":
        sub = "block" if kind == "b" else "char"
        return cls.from_syspath(f"{SYSFS}/dev/{sub}/{major}:{minor}", subsystem_first=False)

    @classmethod
    def from_devname(cls, devname: str) -> "Device":
        try:
            st = os.stat(devname)
        except OSError as e:
            raise DeviceNotFound(f"{devname}: {e.strerror}") from None
        if stat.S_ISBLK(st.st_mode):
            return cls.from_devnum("b", os.major(st.st_rdev), os.minor(st.st_rdev))
        if stat.S_ISCHR(st.st_mode):
            return cls.from_devnum("c", os.major(st.st_rdev), os.minor(st.st_rdev))
        raise DeviceNotFound(f"{devname} is not a device node")

    @classmethod
    def from_subsystem_sysname(cls, subsystem: str, sysname: str) -> "Device":
        name = sysname.replace("/", "!")
        for candidate in (
            f"{SYSFS}/class/{subsystem}/{name}",
            f"{SYSFS}/bus/{subsystem}/devices/{name}",
            f"{SYSFS}/subsystem/{subsystem}/devices/{name}",
        ):
            if os.path.exists(os.path.join(candidate, "uevent")):
                return cls.from_syspath(candidate)
        if subsystem == "module":
            return cls.from_syspath(f"{SYSFS}/module/{name}")
        raise DeviceNotFound(f"no device {subsystem}:{sysname}")

    @classmethod
    def from_ifindex(cls, ifindex: int) -> "Device":
        base = f"{SYSFS}/class/net"
        for name in sorted(os.listdir(base)) if os.path.isdir(base) else []:
            try:
                with open(f"{base}/{name}/ifindex") as f:
                    if int(f.read()) == ifindex:
                        return cls.from_syspath(f"{base}/{name}")
            except (OSError, ValueError):
                continue
        raise DeviceNotFound(f"no network interface with index {ifindex}")

    @classmethod
    def from_device_id(cls, device_id: str) -> "Device":
        kind, rest = device_id[:1], device_id[1:]
        if kind in ("b", "c"):
            major, _, minor = rest.partition(":")
            return cls.from_devnum(kind, int(major), int(minor))
        if kind == "n":
            return cls.from_ifindex(int(rest))
        if kind == "+":
            subsystem, _, sysname = rest.partition(":")
            return cls.from_subsystem_sysname(subsystem, sysname)
        raise DeviceNotFound(f"invalid device id {device_id!r}")

    def _merge_kernel(self, props: dict[str, str]) -> None:
        for key, value in props.items():
            if key == "DEVNAME" and not value.startswith("/"):
                value = "/dev/" + value
            self.properties[key] = value

    # ---- sysfs facts ---------------------------------------------------
    @property
    def devpath(self) -> str:
        return self.syspath[len(SYSFS) :]

    @property
    def sysname(self) -> str:
        if self._sysname is None:
            self._sysname = os.path.basename(self.syspath).replace("!", "/")
        return self._sysname

    def rename(self, syspath: str) -> None:
        """The device moved (a network interface renamed): forget what depended on the old path."""
        self.syspath = syspath
        self._sysname = None
        self._subsystem_link = None
        self.forget_attrs()
        self.properties["DEVPATH"] = self.devpath

    def forget_attrs(self) -> None:
        """Attributes changed under us (a builtin set the MAC address, MTU, ...): read them again."""
        self._attrs.clear()

    @property
    def sysnum(self) -> str | None:
        m = _SYSNUM.search(self.sysname)
        return m.group(1) if m and m.start() > 0 else None

    @property
    def subsystem(self) -> str | None:
        if "SUBSYSTEM" in self.properties:
            return self.properties["SUBSYSTEM"]
        if self._subsystem_link is None:
            name = _read_link_name(os.path.join(self.syspath, "subsystem"))
            self._subsystem_link = (name if name is not None else _implicit_subsystem(self.syspath, self.devpath),)
        return self._subsystem_link[0]

    @property
    def devtype(self) -> str | None:
        return self.properties.get("DEVTYPE")

    @property
    def driver(self) -> str | None:
        if "DRIVER" in self.properties:
            return self.properties["DRIVER"]
        return _read_link_name(os.path.join(self.syspath, "driver"))

    @property
    def devnum(self) -> tuple[int, int] | None:
        try:
            return int(self.properties["MAJOR"]), int(self.properties["MINOR"])
        except (KeyError, ValueError):
            return None

    @property
    def devname(self) -> str | None:
        return self.properties.get("DEVNAME")

    @property
    def ifindex(self) -> int | None:
        try:
            return int(self.properties["IFINDEX"])
        except (KeyError, ValueError):
            return None

    @property
    def action(self) -> str | None:
        return self.properties.get("ACTION")

    @property
    def seqnum(self) -> int:
        try:
            return int(self.properties.get("SEQNUM", "0"))
        except ValueError:
            return 0

    @property
    def device_id(self) -> str:
        devnum = self.devnum
        if devnum is not None and devnum != (0, 0):
            kind = "b" if self.subsystem == "block" else "c"
            return f"{kind}{devnum[0]}:{devnum[1]}"
        ifindex = self.ifindex
        if ifindex is not None and ifindex > 0:
            return f"n{ifindex}"
        subsystem = self.subsystem or ""
        if subsystem == "drivers":
            return f"+drivers:{_drivers_bus(self.devpath)}:{self.sysname}"
        return f"+{subsystem}:{self.sysname}"

    def attr(self, name: str) -> str | None:
        """A sysfs attribute with trailing whitespace stripped (links give their target's name)."""
        if name in self._attrs:
            return self._attrs[name]
        path = os.path.join(self.syspath, name)
        value: str | None
        try:
            if os.path.islink(path):
                if name in ("driver", "subsystem", "module"):
                    value = os.path.basename(os.readlink(path))
                else:
                    value = None
            else:
                with open(path, "rb") as f:
                    value = f.read(4096).decode(errors="replace").rstrip("\n\r\t ")
        except OSError:
            value = None
        self._attrs[name] = value
        return value

    @property
    def parent(self) -> "Device | None":
        if not self._parent_read:
            self._parent_read = True
            path = os.path.dirname(self.syspath)
            while path.startswith(SYSFS + "/"):
                if syspath_refusal(path) is None:
                    try:
                        self._parent = Device.from_syspath(path)
                    except DeviceNotFound:
                        pass
                    break
                path = os.path.dirname(path)
        return self._parent

    def ancestors(self) -> "list[Device]":
        """This device and its parents, nearest first (udev's KERNELS/ATTRS walk)."""
        chain: list[Device] = [self]
        while (p := chain[-1].parent) is not None:
            chain.append(p)
        return chain

    def parent_with(self, subsystem: str, devtype: str | None = None) -> "Device | None":
        for dev in self.ancestors()[1:]:
            if dev.subsystem == subsystem and (devtype is None or dev.devtype == devtype):
                return dev
        return None

    # ---- properties ----------------------------------------------------
    def set_property(self, key: str, value: str | None) -> None:
        """Set by rules, imports and builtins; None deletes ("" is an empty value, as in sd-device).
        Dot-keys never reach the db."""
        if value is None:
            self.properties.pop(key, None)
            self.db_keys.discard(key)
            return
        self.properties[key] = value
        if not key.startswith("."):
            self.db_keys.add(key)

    def prepare_properties(self) -> None:
        """DEVLINKS/TAGS/CURRENT_TAGS brought up to date (set where new, replaced in place where
        listed already); an empty set leaves its property as it was, as in sd-device."""
        props = self.properties
        props.__class__ = Properties
        for key, values, sep in (("DEVLINKS", self.devlinks, " "), ("TAGS", self.tags, ":"),
                                 ("CURRENT_TAGS", self.current_tags, ":")):
            if values:
                joined = sep.join(sorted(values))
                props[key] = joined if sep == " " else f":{joined}:"

    def all_properties(self) -> dict[str, str]:
        """What libudev clients see: kernel and rule properties plus DEVLINKS/TAGS/USEC."""
        self.prepare_properties()
        props = dict(self.properties)
        if self.usec_initialized and props.get("USEC_INITIALIZED") != str(self.usec_initialized):
            props.pop("USEC_INITIALIZED", None)
            props["USEC_INITIALIZED"] = str(self.usec_initialized)
        for key, values in (("DEVLINKS", self.devlinks), ("TAGS", self.tags), ("CURRENT_TAGS", self.current_tags)):
            if not values:
                props.pop(key, None)
        return props
