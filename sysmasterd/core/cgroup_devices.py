"""DevicePolicy=/DeviceAllow= as systemd 252 applies them without BPF.

On v1 (hybrid or legacy) the devices controller does it (cgroup_apply_devices()): "a" denied, then
one devices.allow line per device node, or per major for `char-NAME`/`block-NAME` patterns matched
against /proc/devices, with the policy's static devices first. On the unified hierarchy systemd needs
a BPF device program, which sysmasterd does not load: it does what systemd does where the kernel
lacks it, a warning for the first unit and no filter. (The IP access lists are core/bpf_firewall.py;
where that cannot attach, the same kind of warning comes from here.)
"""

from __future__ import annotations

import fnmatch
import logging
import os
import re
import stat

from compat.model import CGroupContext, ExecContext
from compat.sandbox_implied import device_allow, device_policy
from sysmasterd.core.cgroup_apply import Write

# The devices every restricted unit keeps (bpf_devices_allow_list_static()), and pseudo-terminals.
STATIC_DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty", "/dev/ptmx",
                  "/run/systemd/inaccessible/chr", "/run/systemd/inaccessible/blk")
_NUMBERED = re.compile(r"/dev/(char|block)/(\d+):(\d+)")
_warned: set[str] = set()
log = logging.getLogger("sysmasterd")


def restricts_devices(cg: CGroupContext, ex: ExecContext | None) -> bool:
    return device_policy(cg, ex) != "auto" or bool(device_allow(cg, ex))


def uses_ip_firewall(cg: CGroupContext) -> bool:
    return cg.ip_accounting or bool(cg.ip_address_allow) or bool(cg.ip_address_deny)


def _node(path: str, unit: str) -> tuple[str, int, int] | None:
    """A node's type and numbers: /dev/char|block/M:N and the inaccessible nodes without a stat,
    as device_path_parse_major_minor() reads them."""
    if path == "/run/systemd/inaccessible/chr":
        return "c", 0, 0
    if path == "/run/systemd/inaccessible/blk":
        return "b", 0, 0
    if m := _NUMBERED.fullmatch(path):
        return ("c" if m[1] == "char" else "b"), int(m[2]), int(m[3])
    try:
        st = os.stat(path)
    except OSError as e:
        log.warning("Couldn't stat device %s: %s", path, e.strerror)
        return None
    if not (stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)):
        log.warning("%s is not a device.", path)
        return None
    return ("c" if stat.S_ISCHR(st.st_mode) else "b"), os.major(st.st_rdev), os.minor(st.st_rdev)


def _majors(name: str, kind: str, unit: str) -> list[str]:
    """The majors of a char-/block- pattern: "*" for all, a number as itself, else the driver
    names in /proc/devices matching the glob."""
    if name == "*":
        return ["*"]
    if name.isdigit():
        return [name]
    heading = "Character devices:" if kind == "c" else "Block devices:"
    found: list[str] = []
    try:
        with open("/proc/devices") as f:
            section = ""
            for line in f:
                line = line.strip()
                if line.endswith(":"):
                    section = line
                    continue
                number, _, driver = line.partition(" ")
                if section == heading and number.isdigit() and int(number) > 0 and fnmatch.fnmatchcase(
                        driver.strip(), name):
                    found.append(number)
    except OSError as e:
        log.warning("Cannot open /proc/devices to resolve %s: %s", name, e.strerror)
        return []
    if not found:
        log.debug("%s: Device allow list pattern \"%s\" did not match anything.", unit, name)
    return found


def _allow_lines(path: str, rights: str, unit: str) -> list[str]:
    if path.startswith("/dev/") or path.startswith("/run/systemd/inaccessible/"):
        node = _node(path, unit)
        return [f"{node[0]} {node[1]}:{node[2]} {rights}"] if node is not None else []
    for prefix, kind in (("block-", "b"), ("char-", "c")):
        if path.startswith(prefix):
            return [f"{kind} {major}:* {rights}" if major != "*" else f"{kind} *:* {rights}"
                    for major in _majors(path[len(prefix):], kind, unit)]
    return []


def v1_writes(cg: CGroupContext, ex: ExecContext | None, unit: str) -> list[Write]:
    """The devices controller's files, in cgroup_apply_devices()'s order."""
    lines = allow_lines(cg, ex, unit)
    if lines is None:
        return [Write("devices", "devices.allow", "a")]
    return [Write("devices", "devices.deny", "a"), *(Write("devices", "devices.allow", line) for line in lines)]


def allow_lines(cg: CGroupContext, ex: ExecContext | None, unit: str) -> list[str] | None:
    """What a restricted unit may use, as devices.allow lines ("c 1:3 rwm", "c 136:* rw"); None
    when nothing is restricted."""
    policy = device_policy(cg, ex)
    allowed = device_allow(cg, ex)
    if policy == "auto" and not allowed:
        return None
    lines: list[str] = []
    if policy == "closed" or (policy == "auto" and allowed):
        for node in STATIC_DEVICES:
            lines += _allow_lines(node, "rwm", unit)
        lines += _allow_lines("char-pts", "rw", unit)
    for entry in allowed:
        if entry.rights:
            lines += _allow_lines(entry.path, entry.rights, unit)
    return lines


def warn_unenforced(cg: CGroupContext, ex: ExecContext | None, unit: str, unified: bool) -> None:
    """systemd's warning where the BPF device controller is missing, for the first unit only."""
    if unified and restricts_devices(cg, ex) and "devices" not in _warned:
        _warned.add("devices")
        log.warning("Unit %s configures device ACL, but the local system doesn't seem to support the BPF-based "
                    "device controller.\nProceeding WITHOUT applying ACL (all devices will be accessible)!\n"
                    "(This warning is only shown for the first loaded unit using device ACL.)", unit)


def warn_ip_unenforced(unit: str) -> None:
    """systemd's warning where its BPF firewall cannot be set up, for the first unit only."""
    if "ip" not in _warned:
        _warned.add("ip")
        why = "not running as root" if os.getuid() != 0 else "the local system does not support BPF/cgroup firewalling"
        log.warning("%s: unit configures an IP firewall, but %s.\n"
                    "(This warning is only shown for the first unit using IP firewalling.)", unit, why)
