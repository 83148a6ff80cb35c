"""Device enumeration with udevadm's filters: the part of systemd 252's sd_device_enumerator that
devctl needs, with its matching rules (test_matches) and its order (enumerator_sort_devices)."""

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from sysmasterd.devmaster.device import SYSFS, Device, DeviceNotFound
from sysmasterd.devmaster.framework import db
from udev_rules_translator.glob import fnmatch


@dataclass
class Filter:
    subsystems: list[str] = field(default_factory=list)
    nomatch_subsystems: list[str] = field(default_factory=list)
    sysnames: list[str] = field(default_factory=list)
    # (name, value pattern or None) in option order: the order matters, see _patterns()
    attrs: list[tuple[str, str | None]] = field(default_factory=list)
    nomatch_attrs: list[tuple[str, str | None]] = field(default_factory=list)
    properties: list[tuple[str, str | None]] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    parents: list[str] = field(default_factory=list)
    initialized: bool | None = None
    run_dir: str = db.RUN_UDEV


def _dirs(path: str) -> list[str]:
    try:
        return sorted(os.listdir(path))
    except OSError:
        return []


def _syspaths(wanted: Callable[[str], bool]) -> Iterator[str]:
    """Devices under the buses and classes whose name passes the subsystem filter: like
    sd_device_enumerator, a filtered trigger never resolves the links of the other directories."""
    seen: set[str] = set()
    for bus in filter(wanted, _dirs(f"{SYSFS}/bus")):
        for name in _dirs(f"{SYSFS}/bus/{bus}/devices"):
            yield from _once(f"{SYSFS}/bus/{bus}/devices/{name}", seen)
    for cls in filter(wanted, _dirs(f"{SYSFS}/class")):
        for name in _dirs(f"{SYSFS}/class/{cls}"):
            yield from _once(f"{SYSFS}/class/{cls}/{name}", seen)


def _once(path: str, seen: set[str]) -> Iterator[str]:
    real = os.path.realpath(path)
    if real not in seen and os.path.exists(os.path.join(real, "uevent")):
        seen.add(real)
        yield real


def _any(patterns: Iterable[str], value: str) -> bool:
    return any(fnmatch(p, value) for p in patterns)


def _patterns(pairs: list[tuple[str, str | None]], clear_on_null: bool) -> dict[str, list[str]]:
    """sd-device's update_match_strv(): the value patterns given for one name are alternatives;
    an empty list means any value for attributes (a bare name given first, or given again with
    clear_on_null) and no value at all for properties (a bare name)."""
    out: dict[str, list[str]] = {}
    for name, value in pairs:
        if name not in out:
            out[name] = [] if value is None else [value]
        elif value is None:
            if out[name] and clear_on_null:
                out[name] = []
        elif value not in out[name]:
            out[name].append(value)
    return out


def _subsystem_ok(f: Filter, subsystem: str) -> bool:
    if _any(f.nomatch_subsystems, subsystem):
        return False
    return not f.subsystems or _any(f.subsystems, subsystem)


def _sysname_ok(f: Filter, sysname: str) -> bool:
    return not f.sysnames or _any(f.sysnames, sysname)


def _attr_ok(dev: Device, name: str, patterns: list[str]) -> bool:
    value = dev.attr(name)
    return value is not None and (not patterns or _any(patterns, value))


def matches(dev: Device, f: Filter) -> bool:
    """test_matches(): sysname, subsystem, parent, tags, initialized, properties, attributes, in
    that order (the database is read only when a test needs it)."""
    if not _sysname_ok(f, dev.sysname):
        return False
    subsystem = dev.subsystem
    if subsystem is None or not _subsystem_ok(f, subsystem):
        return False
    if f.parents and not any(dev.syspath == p or dev.syspath.startswith(p.rstrip("/") + "/") for p in f.parents):
        return False
    if f.tags or f.initialized is not None or f.properties:
        rec = db.read_db(dev.device_id, f.run_dir)
        if rec is not None:
            db.load_into(dev, rec)
        if not all(t in dev.tags for t in f.tags):
            return False
        if f.initialized is not None and (rec is not None) != f.initialized:
            return False
        # unlike attributes, one matching property of all those asked for is enough
        props = dev.all_properties()
        if f.properties and not any(_any(values, props[key])
                                    for pattern, values in _patterns(f.properties, False).items()
                                    for key in props if fnmatch(pattern, key)):
            return False
    if not all(_attr_ok(dev, n, v) for n, v in _patterns(f.attrs, True).items()):
        return False
    return not any(_attr_ok(dev, n, v) for n, v in _patterns(f.nomatch_attrs, True).items())


def _children(parents: list[str], f: Filter) -> Iterator[str]:
    """enumerator_scan_devices_children(): each parent, then every directory below it (not
    following links) whose name passes the sysname filter; below /sys/devices only those with a
    uevent file turn out to be devices, elsewhere (/sys/bus, /sys/module) every directory is one."""
    stack = list(parents)
    yield from parents
    while stack:
        path = stack.pop()
        try:
            entries = [e for e in os.scandir(path) if not e.name.startswith(".") and e.is_dir(follow_symlinks=False)]
        except OSError:
            continue
        for entry in entries:
            if _sysname_ok(f, entry.name):
                yield entry.path
            stack.append(entry.path)


def devices(f: Filter) -> list[Device]:
    found: dict[str, Device] = {}
    # sd-device lists a tag's devices from the database, where parents only filter them
    paths = _children(f.parents, f) if f.parents and not f.tags else _syspaths(lambda name: _subsystem_ok(f, name))
    for path in paths:
        try:
            dev = Device.from_syspath(path)
        except DeviceNotFound:
            continue
        if dev.syspath not in found and matches(dev, f):
            found[dev.syspath] = dev
    return sorted(found.values(), key=_order)


def _scan(directory: str, f: Filter, found: dict[str, Device]) -> None:
    """enumerator_scan_dir_and_add_devices(): each entry that matches, then its matching parents
    (for a driver: its bus's drivers directory, and the bus when that is asked for too)."""
    for name in _dirs(directory):
        if name.startswith(".") or not _sysname_ok(f, name):
            continue
        try:
            dev = Device.from_syspath(os.path.join(directory, name))
        except DeviceNotFound:
            continue
        if not matches(dev, f):
            continue
        found.setdefault(dev.syspath, dev)
        path = os.path.dirname(dev.syspath)
        while path != SYSFS:
            # /sys/bus and /sys/module are directories without a subsystem: never matched
            try:
                parent = Device.from_syspath(path)
            except DeviceNotFound:
                parent = None
            if parent is not None and matches(parent, f):
                if parent.syspath in found:
                    break
                found[parent.syspath] = parent
            path = os.path.dirname(path)


def subsystems(f: Filter) -> list[Device]:
    """What `trigger --type=subsystems` pokes: modules, buses and drivers (sd-device gives them
    the subsystems "module", "subsystem" and "drivers"), filtered as devices are."""
    found: dict[str, Device] = {}
    if _subsystem_ok(f, "module"):
        _scan(f"{SYSFS}/module", f, found)
    if _subsystem_ok(f, "subsystem"):
        _scan(f"{SYSFS}/bus", f, found)
    if _subsystem_ok(f, "drivers"):
        for bus in _dirs(f"{SYSFS}/bus"):
            _scan(f"{SYSFS}/bus/{bus}/drivers", f, found)
    return list(found.values())


def _order(dev: Device) -> tuple[bool, list[str]]:
    """device_compare(): md and dm block devices last, then path_compare() (component by
    component, so "a/b" sorts before "a-b"). Its sound-card rule compares nothing in 252."""
    devpath = dev.devpath
    return "/block/md" in devpath or "/block/dm-" in devpath, devpath.split("/")


def ordered(devs: list[Device], prioritized: list[str]) -> list[Device]:
    """enumerator_sort_devices(): for each prioritized subsystem in turn, its devices and their
    ancestors among those found, sorted; then the rest, sorted."""
    rest = {d.syspath: d for d in devs}
    out: list[Device] = []
    for subsystem in dict.fromkeys(prioritized):
        group: list[Device] = []
        for dev in [d for d in rest.values() if d.subsystem == subsystem]:
            path = dev.syspath
            while path != "/":
                if path in rest:
                    group.append(rest.pop(path))
                path = os.path.dirname(path)
        out += sorted(group, key=_order)
    return out + sorted(rest.values(), key=_order)
