"""A device as udev sees it: sysfs facts read lazily, properties, tags, links, db state.

One object per event in a worker; sysfs attributes are read at most once per
object, as udev caches them per event.
"""

import os
import re
import stat

SYSFS = "/sys"
_SYSNUM = re.compile(r"(\d+)$")


class DeviceNotFound(LookupError):
    pass


def _read_link_name(path: str) -> str | None:
    try:
        return os.path.basename(os.readlink(path))
    except OSError:
        return None


def _subsystem_kind(devpath: str) -> str | None:
    """sysfs entries that are "devices" of the pseudo subsystems subsystem, drivers and module."""
    parts = devpath.strip("/").split("/")
    if parts[0] == "module" and len(parts) == 2:
        return "module"
    if parts[0] in ("bus", "class") and len(parts) == 2:
        return "subsystem"
    if parts[0] == "bus" and len(parts) in (3, 4) and parts[2] == "drivers":
        return "drivers"
    return None


def parse_uevent_file(text: str) -> dict[str, str]:
    props: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key:
            props[key] = value
    return props


# A plain class, not a dataclass: devctl's start-up does not pay for dataclasses (and inspect).
class Device:
    def __init__(self, syspath: str, properties: dict[str, str] | None = None) -> None:
        self.syspath = syspath
        self.properties: dict[str, str] = {} if properties is None else properties
        # keys set by rules/imports: written to the db as E: lines
        self.db_keys: set[str] = set()
        self.tags: set[str] = set()
        self.current_tags: set[str] = set()
        self.devlinks: set[str] = set()
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
    def from_syspath(cls, path: str, subsystem_first: bool = True) -> "Device":
        """A device from sysfs. Property order follows sd-device: SUBSYSTEM comes right after DEVPATH
        unless the device was looked up by device number (then the uevent file is read first)."""
        real = os.path.realpath(path)
        if not real.startswith(SYSFS + "/") or not (
                os.path.exists(os.path.join(real, "uevent")) or _subsystem_kind(real[len(SYSFS):])):
            raise DeviceNotFound(f"no device at {path}")
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
        if subsystem:
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
            self._subsystem_link = (name if name is not None else _subsystem_kind(self.devpath),)
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
            bus = os.path.basename(os.path.dirname(os.path.dirname(self.syspath)))
            return f"+drivers:{bus}:{self.sysname}"
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
            while path.startswith(SYSFS + "/") and path != SYSFS + "/devices":
                if os.path.exists(os.path.join(path, "uevent")):
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

    def all_properties(self) -> dict[str, str]:
        """What libudev clients see: kernel and rule properties plus DEVLINKS/TAGS/USEC."""
        props = dict(self.properties)
        if self.usec_initialized and props.get("USEC_INITIALIZED") != str(self.usec_initialized):
            props.pop("USEC_INITIALIZED", None)
            props["USEC_INITIALIZED"] = str(self.usec_initialized)
        if self.devlinks:
            props["DEVLINKS"] = " ".join(sorted(self.devlinks))
        if self.tags:
            props["TAGS"] = ":" + ":".join(sorted(self.tags)) + ":"
        if self.current_tags:
            props["CURRENT_TAGS"] = ":" + ":".join(sorted(self.current_tags)) + ":"
        return props
