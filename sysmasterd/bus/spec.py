"""Interface descriptions read from the introspection XML (the repository's dbus/ directory, shipped
in the wheel as the resource package ``sysmasterd.dbusdata``).

The XML is the single source of wire facts (member names, signatures, change annotations); the
Python interface classes only supply values and behaviour.
"""

from __future__ import annotations

import functools
import importlib.resources
import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from importlib.resources.abc import Traversable
from pathlib import Path

EMITS_ANNOTATION = "org.freedesktop.DBus.Property.EmitsChangedSignal"
DATA_PACKAGE = "sysmasterd.dbusdata"


class InterfaceDataError(RuntimeError):
    """The shipped introspection XML is missing or broken: the D-Bus face cannot exist."""


@dataclass(frozen=True)
class PropertySpec:
    name: str
    signature: str
    emits: str  # "true", "false", "const" or "invalidates" (systemd's annotation values)
    writable: bool


@dataclass(frozen=True)
class MethodSpec:
    name: str
    in_signature: str
    out_signature: str


@dataclass
class InterfaceSpec:
    name: str
    xml: str
    properties: dict[str, PropertySpec] = field(default_factory=dict)
    methods: dict[str, MethodSpec] = field(default_factory=dict)
    signals: dict[str, str] = field(default_factory=dict)


def data_dir() -> Traversable:
    """$SYSMASTER_DBUS_DIR if set, else the data installed with the package (wheel or checkout)."""
    override = os.environ.get("SYSMASTER_DBUS_DIR")
    if override:
        return Path(override)
    return importlib.resources.files(DATA_PACKAGE)


def _args(element: ET.Element, direction: str) -> str:
    return "".join(
        a.get("type", "")
        for a in element.findall("arg")
        if a.get("direction", "in" if element.tag == "method" else "out") == direction
    )


def parse_interface(xml: str) -> InterfaceSpec:
    root = ET.fromstring(xml)
    spec = InterfaceSpec(name=root.get("name", ""), xml=xml.strip())
    for prop in root.findall("property"):
        emits = "true"
        for ann in prop.findall("annotation"):
            if ann.get("name") == EMITS_ANNOTATION:
                emits = ann.get("value", "true")
        name = prop.get("name", "")
        spec.properties[name] = PropertySpec(
            name, prop.get("type", ""), emits, "write" in prop.get("access", "read")
        )
    for meth in root.findall("method"):
        name = meth.get("name", "")
        spec.methods[name] = MethodSpec(name, _args(meth, "in"), _args(meth, "out"))
    for sig in root.findall("signal"):
        spec.signals[sig.get("name", "")] = _args(sig, "out")
    return spec


def interface_names() -> list[str]:
    """Every interface the data describes (file names without .xml)."""
    return sorted(f.name.removesuffix(".xml") for f in data_dir().iterdir() if f.name.endswith(".xml"))


@functools.cache
def interface(name: str) -> InterfaceSpec:
    source = data_dir() / f"{name}.xml"
    try:
        return parse_interface(source.read_text())
    except (OSError, ET.ParseError) as e:
        raise InterfaceDataError(f"introspection data of {name} unusable ({source}): {e}") from e


def node_xml(interfaces: list[str], children: tuple[str, ...] = ()) -> str:
    parts = [
        '<!DOCTYPE node PUBLIC "-//freedesktop//DTD D-BUS Object Introspection 1.0//EN"\n'
        ' "http://www.freedesktop.org/standards/dbus/1.0/introspect.dtd">\n<node>'
    ]
    parts.extend(interface(i).xml for i in interfaces)
    parts.extend(f' <node name="{c}"/>' for c in children)
    parts.append("</node>\n")
    return "\n".join(parts)
