"""Per-event formatting of the translator's pre-parsed templates ($kernel, %s{attr}, ...)."""

import logging
import os
import re

from sysmasterd.devmaster.device import Device, DeviceNotFound
from sysmasterd.devmaster.event import UdevEvent
from udev_rules_translator.model import Literal, Substitution, SubstKind, Template, parse_subsys_ref

log = logging.getLogger("devmaster")
_PLAIN = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#+-.:=@_")
ALLOWED_CHARS_INPUT = "/ $%?,"
_WHITESPACE = " \t\n\r"


def replace_chars(text: str, allow: str | None) -> str:
    """udev_replace_chars(): keep plain ASCII, allowed extras, \\x escapes and non-ASCII; '_' else."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in _PLAIN or (allow and c in allow):
            out.append(c)
        elif c == "\\" and text[i + 1 : i + 2] == "x":
            out.append("\\x")
            i += 1
        elif ord(c) > 127 and c != "\ufffd":
            out.append(c)
        elif c.isspace() and allow and " " in allow:
            out.append(" ")
        else:
            out.append("_")
        i += 1
    return "".join(out)


def replace_whitespace(text: str) -> str:
    """udev_replace_whitespace(): trim, then each run of whitespace becomes one '_'."""
    return "_".join(text.split())


def resolve_subsys_value(text: str) -> str | None:
    """Value of "[subsystem/sysname]attr", or None when it cannot be read."""
    ref = parse_subsys_ref(text)
    if ref is None or ref.attr is None:
        return None
    try:
        dev = Device.from_subsystem_sysname(ref.subsystem, ref.sysname)
    except DeviceNotFound:
        return None
    return dev.attr(ref.attr)


def resolve_subsys_path(text: str) -> str | None:
    ref = parse_subsys_ref(text)
    if ref is None:
        return None
    try:
        dev = Device.from_subsystem_sysname(ref.subsystem, ref.sysname)
    except DeviceNotFound:
        return None
    return os.path.join(dev.syspath, ref.attr) if ref.attr else dev.syspath


def _result_part(result: str, sub: Substitution) -> str:
    if sub.result_index == 0:
        return result
    words = list(re.finditer(r"[^ \t\n\r]+", result))
    if sub.result_index > len(words):
        log.debug("requested part of result string not found")
        return ""
    word = words[sub.result_index - 1]
    return result[word.start() :] if sub.result_rest else word.group()


def substitute(event: UdevEvent, sub: Substitution) -> str:
    dev = event.dev
    kind = sub.kind
    parent = event.dev_parent
    if kind is SubstKind.DEVPATH:
        return dev.devpath
    if kind is SubstKind.KERNEL:
        return dev.sysname
    if kind is SubstKind.KERNEL_NUMBER:
        return dev.sysnum or ""
    if kind is SubstKind.ID:
        return parent.sysname if parent is not None else ""
    if kind is SubstKind.DRIVER:
        return (parent.driver or "") if parent is not None else ""
    if kind in (SubstKind.MAJOR, SubstKind.MINOR):
        devnum = dev.devnum or (0, 0)
        return str(devnum[0] if kind is SubstKind.MAJOR else devnum[1])
    if kind is SubstKind.RESULT:
        return _result_part(event.program_result, sub) if event.program_result is not None else ""
    if kind is SubstKind.ATTR:
        attr = sub.arg or ""
        value = resolve_subsys_value(attr)
        if value is None:
            value = dev.attr(attr)
        if value is None and parent is not None and parent is not dev:
            value = parent.attr(attr)
        if value is None:
            return ""
        return replace_chars(value.rstrip(_WHITESPACE), ALLOWED_CHARS_INPUT)
    if kind is SubstKind.PARENT:
        up = dev.parent
        return up.devname[len("/dev/") :] if up is not None and up.devname else ""
    if kind is SubstKind.DEVNODE:
        return dev.devname or ""
    if kind is SubstKind.NAME:
        if event.name:
            return event.name
        return dev.devname[len("/dev/") :] if dev.devname else dev.sysname
    if kind is SubstKind.LINKS:
        return " ".join(link[len("/dev/") :] for link in sorted(dev.devlinks))
    if kind is SubstKind.ROOT:
        return "/dev"
    if kind is SubstKind.SYS:
        return "/sys"
    if kind is SubstKind.ENV:
        return dev.properties.get(sub.arg or "", "")
    raise AssertionError(kind)


def apply_format(event: UdevEvent, template: Template | str, replace_ws: bool = False) -> str:
    """The template's text for this event; a plain string (a value without substitutions) is that."""
    if isinstance(template, str):
        return template
    if template.error is not None:
        log.warning("%s", template.error)
    out: list[str] = []
    for part in template.parts:
        if isinstance(part, Literal):
            out.append(part.text)
            continue
        value = substitute(event, part)
        if replace_ws and part.kind is not SubstKind.RESULT:
            value = replace_whitespace(value)
        out.append(value)
    return "".join(out)
