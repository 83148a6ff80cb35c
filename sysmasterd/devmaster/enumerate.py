"""Device enumeration with udevadm's filters (the sd_device_enumerator subset devctl needs)."""

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from sysmasterd.devmaster.device import SYSFS, Device, DeviceNotFound
from sysmasterd.devmaster.framework import db
from udev_rules_translator.glob import fnmatch


@dataclass
class Filter:
    subsystems: list[str] = field(default_factory=list)
    nomatch_subsystems: list[str] = field(default_factory=list)
    sysnames: list[str] = field(default_factory=list)
    attrs: list[tuple[str, str | None]] = field(default_factory=list)
    nomatch_attrs: list[tuple[str, str | None]] = field(default_factory=list)
    properties: list[tuple[str, str]] = field(default_factory=list)
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


def subsystem_syspaths(f: Filter | None = None) -> list[str]:
    """Buses, their drivers and modules: what `trigger --type=subsystems` pokes, as udevadm lists them.
    Their subsystems, for the filter, are sd_device's: "subsystem", "drivers" and "module"."""
    out: list[tuple[str, str]] = []
    for bus in _dirs(f"{SYSFS}/bus"):
        out.append(("subsystem", f"{SYSFS}/bus/{bus}"))
        drivers = _dirs(f"{SYSFS}/bus/{bus}/drivers")
        if drivers:
            out.append(("drivers", f"{SYSFS}/bus/{bus}/drivers"))
            out += [("drivers", f"{SYSFS}/bus/{bus}/drivers/{d}") for d in drivers]
    out += [("module", f"{SYSFS}/module/{m}") for m in _dirs(f"{SYSFS}/module")]
    if f is None:
        return [path for _, path in out]
    return [path for subsystem, path in out if _subsystem_ok(f, subsystem)
            and (not f.sysnames or any(fnmatch(p, os.path.basename(path)) for p in f.sysnames))]


def _attr_ok(dev: Device, name: str, pattern: str | None) -> bool:
    value = dev.attr(name)
    if value is None:
        return False
    return pattern is None or fnmatch(pattern, value)


def _subsystem_ok(f: Filter, subsystem: str) -> bool:
    if any(fnmatch(p, subsystem) for p in f.nomatch_subsystems):
        return False
    return not f.subsystems or any(fnmatch(p, subsystem) for p in f.subsystems)


def _match(dev: Device, f: Filter) -> bool:
    if not _subsystem_ok(f, dev.subsystem or ""):
        return False
    if f.sysnames and not any(fnmatch(p, dev.sysname) for p in f.sysnames):
        return False
    if f.parents and not any(dev.syspath == p or dev.syspath.startswith(p + "/") for p in f.parents):
        return False
    if not all(_attr_ok(dev, n, v) for n, v in f.attrs):
        return False
    if any(_attr_ok(dev, n, v) for n, v in f.nomatch_attrs):
        return False
    needs_db = f.properties or f.tags or f.initialized is not None
    if needs_db:
        rec = db.read_db(dev.device_id, f.run_dir)
        if rec is not None:
            db.load_into(dev, rec)
        if f.initialized is not None and (rec is not None) != f.initialized:
            return False
        if f.tags and not all(t in dev.tags for t in f.tags):
            return False
        props = dev.properties
        if f.properties and not any(
                k in props and fnmatch(v, props[k]) for k, v in f.properties):
            return False
    return True


def devices(f: Filter) -> list[Device]:
    found = []
    for path in _syspaths(lambda name: _subsystem_ok(f, name)):
        try:
            dev = Device.from_syspath(path)
        except DeviceNotFound:
            continue
        if _match(dev, f):
            found.append(dev)
    found.sort(key=lambda d: d.devpath)
    return found
