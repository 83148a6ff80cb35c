"""Condition*= and Assert*= checks, evaluated when a unit is about to start."""

from __future__ import annotations

import errno
import fnmatch
import functools
import grp
import logging
import os
import platform
import pwd
import re
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from compat.model import Condition, ConditionKind
from compat.values import boolean_or_none
from sysmasterd.core.clock import now_realtime_usec
from sysmasterd.core.cmdline import switch as cmdline_switch

log = logging.getLogger("sysmasterd")


class Undetermined(Exception):
    """The check could not decide (systemd: an error), which fails the condition even when negated."""


@dataclass(frozen=True)
class ConditionOutcome:
    condition: Condition
    result: bool  # after negation
    known: bool  # False: a kind we cannot evaluate (treated as passed, and said so)


def _path_exists(p: str) -> bool:
    return os.path.lexists(p)


def _path_exists_glob(p: str) -> bool:
    import glob

    return bool(glob.glob(p))


def _path_is_dir(p: str) -> bool:
    return os.path.isdir(p)


def _path_is_symlink(p: str) -> bool:
    return os.path.islink(p)


_AT_FDCWD = -100
_AT_SYMLINK_NOFOLLOW = 0x100
_AT_NO_AUTOMOUNT = 0x800
_STATX_TYPE = 0x1
_STATX_ATTR_MOUNT_ROOT = 0x2000
_STATX_SIZE = 256  # struct statx; stx_attributes at offset 8, stx_attributes_mask at offset 40


def _statx_mount_root(path: str) -> bool | None:
    """The kernel's own answer (statx() STATX_ATTR_MOUNT_ROOT, Linux >= 5.8), or None without it."""
    import ctypes
    import struct

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        statx = libc.statx
    except (OSError, AttributeError):
        return None
    buf = ctypes.create_string_buffer(_STATX_SIZE)
    if statx(_AT_FDCWD, os.fsencode(path), _AT_SYMLINK_NOFOLLOW | _AT_NO_AUTOMOUNT, _STATX_TYPE, buf) != 0:
        return None
    attributes, = struct.unpack_from("=Q", buf, 8)
    mask, = struct.unpack_from("=Q", buf, 40)
    if not mask & _STATX_ATTR_MOUNT_ROOT:
        return None
    return bool(attributes & _STATX_ATTR_MOUNT_ROOT)


def _unescape_mountinfo(field: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def _mountinfo_has(path: str) -> bool:
    try:
        with open("/proc/self/mountinfo") as f:
            return any(_unescape_mountinfo(line.split()[4]) == path for line in f if len(line.split()) > 4)
    except OSError:
        return False


def path_is_mount_point(p: str) -> bool:
    """systemd's path_is_mount_point(): symlinks in the path are followed, "/" always is one, and
    the kernel decides (statx's STATX_ATTR_MOUNT_ROOT) rather than a st_dev comparison, which
    overlayfs and file bind mounts get wrong. Without statx, /proc/self/mountinfo decides."""
    if os.path.normpath(p) == "/":
        return True
    try:
        canonical = os.path.realpath(p, strict=True)
    except OSError:
        return False
    if canonical == "/":
        return True
    answer = _statx_mount_root(canonical)
    return _mountinfo_has(canonical) if answer is None else answer


def _path_is_read_write(p: str) -> bool:
    try:
        return not (os.statvfs(p).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _dir_not_empty(p: str) -> bool:
    try:
        return any(not e.name.startswith(".") for e in os.scandir(p))
    except OSError:
        return False


def _file_not_empty(p: str) -> bool:
    try:
        st = os.stat(p)
    except OSError:
        return False
    import stat

    return stat.S_ISREG(st.st_mode) and st.st_size > 0


def _file_is_executable(p: str) -> bool:
    return os.path.isfile(p) and os.access(p, os.X_OK)


def _kernel_command_line(p: str) -> bool:
    try:
        with open("/proc/cmdline") as f:
            words = f.read().split()
    except OSError:
        return False
    if "=" in p:
        return p in words
    return any(w == p or w.startswith(p + "=") for w in words)


_CONTAINERS = frozenset({"openvz", "lxc", "lxc-libvirt", "systemd-nspawn", "docker", "podman", "rkt", "wsl",
                         "proot", "pouch", "container-other"})


@functools.cache
def detect_virtualization() -> tuple[str, str]:
    """("vm" | "container" | "", systemd's name for it, "none" on bare metal), asked of
    systemd-detect-virt, which is the reference; without it, "none"."""
    import shutil
    import subprocess

    name = "none"
    tool = shutil.which("systemd-detect-virt")
    if tool:
        try:
            name = subprocess.run([tool], capture_output=True, text=True, timeout=5).stdout.strip() or "none"
        except (OSError, subprocess.SubprocessError):
            pass
    if name == "none":
        return "", name
    return ("container" if name in _CONTAINERS else "vm"), name


def _identity_map(path: str) -> bool:
    try:
        with open(path) as f:
            return f.read().split() == ["0", "0", "4294967295"]
    except OSError:
        return True  # no user namespaces in this kernel


def running_in_userns() -> bool:
    if not _identity_map("/proc/self/uid_map") or not _identity_map("/proc/self/gid_map"):
        return True
    try:
        with open("/proc/self/setgroups") as f:
            return f.read().strip() == "deny"
    except OSError:
        return False


def _check_virtualization(p: str) -> bool:
    if p == "private-users":
        return running_in_userns()
    kind, name = detect_virtualization()
    wanted = boolean_or_none(p)
    if wanted is not None:
        return wanted == (name != "none")
    if p in ("vm", "container"):
        return kind == p
    return name != "none" and name == p


def _check_host(p: str) -> bool:
    if fnmatch.fnmatch(socket.gethostname(), p):
        return True
    try:
        with open("/etc/machine-id") as f:
            return f.read().strip() == p.replace("-", "").lower()
    except OSError:
        return False


def _check_user(p: str) -> bool:
    uid = os.getuid()
    if p == "@system":
        return uid < 1000 or os.geteuid() < 1000
    if p.isdigit():
        return int(p) in (uid, os.geteuid())
    try:
        return pwd.getpwnam(p).pw_uid in (uid, os.geteuid())
    except KeyError:
        return False


def _check_group(p: str) -> bool:
    gids = {os.getgid(), os.getegid(), *os.getgroups()}
    if p.isdigit():
        return int(p) in gids
    try:
        return grp.getgrnam(p).gr_gid in gids
    except KeyError:
        return False


def _check_environment(p: str, environ: dict[str, str]) -> bool:
    if "=" in p:
        k, v = p.split("=", 1)
        return environ.get(k) == v
    return p in environ


def _check_ac_power(p: str) -> bool:
    want = p.lower() in ("yes", "true", "1", "on")
    on_ac = True  # systemd's answer when no power supply reports: assume AC
    try:
        for e in os.scandir("/sys/class/power_supply"):
            try:
                with open(os.path.join(e.path, "type")) as f:
                    if f.read().strip() != "Mains":
                        continue
                with open(os.path.join(e.path, "online")) as f:
                    on_ac = f.read().strip() == "1"
                    if on_ac:
                        break
            except OSError:
                continue
    except OSError:
        pass
    return on_ac == want


FIRST_BOOT_FLAG = "/run/systemd/first-boot"


def _check_first_boot(p: str) -> bool:
    """The system manager leaves FIRST_BOOT_FLAG while a first boot is under way; every manager
    (and systemd-analyze) reads that file, as systemd 252 does."""
    wanted = boolean_or_none(p)
    if wanted is None:
        raise Undetermined(f"invalid boolean {p!r}")
    return os.path.exists(FIRST_BOOT_FLAG) == wanted


def _check_needs_update(p: str) -> bool:
    """/usr changed since the tools that refresh /etc (or /var) last ran and stamped p/.updated:
    an offline update happened. Whatever cannot be checked says yes, as systemd 252 does, so that
    update tools rather run once too often."""
    forced = cmdline_switch("systemd.condition-needs-update")
    if forced is not None:
        return forced
    if os.path.exists("/etc/initrd-release"):
        return False  # no updates from the initrd
    if not os.path.isabs(p):
        return True
    if not _path_is_read_write(p):
        return False
    stamp = os.path.join(p, ".updated")
    try:
        updated, usr = os.lstat(stamp), os.lstat("/usr/")
    except OSError:
        return True
    if usr.st_mtime_ns // 10**9 != updated.st_mtime_ns // 10**9:
        return usr.st_mtime_ns > updated.st_mtime_ns
    if usr.st_mtime_ns % 10**9 == 0 or updated.st_mtime_ns % 10**9 > 0:
        return usr.st_mtime_ns % 10**9 > updated.st_mtime_ns % 10**9
    # A file system without nanoseconds: the stamp's content says when it was written.
    try:
        with open(stamp) as f:
            fields = dict(line.strip().split("=", 1) for line in f if "=" in line)
        return usr.st_mtime_ns > int(fields["TIMESTAMP_NSEC"])
    except (OSError, KeyError, ValueError):
        return True


# uname's machine -> systemd's architecture name (architecture.c), where they differ.
_ARCHITECTURES = {"x86_64": "x86-64", "i386": "x86", "i486": "x86", "i586": "x86", "i686": "x86",
                  "aarch64": "arm64", "aarch64_be": "arm64-be", "ppc64le": "ppc64-le", "ppcle": "ppc-le",
                  "armv8l": "arm", "armv7l": "arm", "armv6l": "arm", "armv8b": "arm-be", "armv7b": "arm-be",
                  "parisc64": "parisc64", "sh4": "sh", "sh4a": "sh", "sh5": "sh64"}


def architecture() -> str:
    machine = platform.machine()
    return _ARCHITECTURES.get(machine, machine)


def _check_architecture(p: str) -> bool:
    return p in ("native", architecture())


# Capability names in number order (linux/capability.h up to CAP_CHECKPOINT_RESTORE, as 252 knows them).
CAPABILITIES = ("cap_chown", "cap_dac_override", "cap_dac_read_search", "cap_fowner", "cap_fsetid", "cap_kill",
                "cap_setgid", "cap_setuid", "cap_setpcap", "cap_linux_immutable", "cap_net_bind_service",
                "cap_net_broadcast", "cap_net_admin", "cap_net_raw", "cap_ipc_lock", "cap_ipc_owner",
                "cap_sys_module", "cap_sys_rawio", "cap_sys_chroot", "cap_sys_ptrace", "cap_sys_pacct",
                "cap_sys_admin", "cap_sys_boot", "cap_sys_nice", "cap_sys_resource", "cap_sys_time",
                "cap_sys_tty_config", "cap_mknod", "cap_lease", "cap_audit_write", "cap_audit_control",
                "cap_setfcap", "cap_mac_override", "cap_mac_admin", "cap_syslog", "cap_wake_alarm",
                "cap_block_suspend", "cap_audit_read", "cap_perfmon", "cap_bpf", "cap_checkpoint_restore")


def capability_from_name(name: str) -> int | None:
    if name.isdigit():
        number = int(name)
        return number if number < 64 else None
    lowered = name.lower()
    return CAPABILITIES.index(lowered) if lowered in CAPABILITIES else None


def _check_capability(p: str) -> bool:
    """Against the manager's bounding set (CapBnd: in /proc/self/status); an unknown name cannot
    be decided, which fails the condition whatever its negation."""
    number = capability_from_name(p)
    if number is None:
        raise Undetermined(f"unknown capability {p!r}")
    bounding = (1 << 64) - 1
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("CapBnd:"):
                    bounding = int(line.split()[1], 16)
                    break
    except OSError as e:
        raise Undetermined(str(e)) from e
    return bool(bounding >> number & 1)


def _read_line(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.readline().strip()
    except OSError:
        return None


def _selinux() -> bool:
    # libselinux's is_selinux_enabled(): selinuxfs is mounted (and so a policy is loaded).
    try:
        with open("/proc/self/mounts") as f:
            return any(line.split()[2] == "selinuxfs" for line in f if len(line.split()) > 2)
    except OSError:
        return False


def _audit() -> bool:
    """An audit netlink socket that can be opened and that answers (outside the initial user
    namespace the kernel refuses requests with ECONNREFUSED)."""
    netlink_audit = 9
    try:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_NONBLOCK, netlink_audit)
    except OSError as e:
        return e.errno not in (errno.EAFNOSUPPORT, errno.EPROTONOSUPPORT, errno.EPERM)
    import struct

    audit_get_feature, nlm_f_request, nlm_f_ack, nlmsg_error = 1019, 1, 4, 2
    with sock:
        try:
            sock.send(struct.pack("=IHHII", 16, audit_get_feature, nlm_f_request | nlm_f_ack, 0, 0))
            sock.settimeout(1)
            reply = sock.recv(4096)
        except OSError as e:
            return e.errno != errno.ECONNREFUSED
        if len(reply) < 20 or struct.unpack_from("=H", reply, 4)[0] != nlmsg_error:
            return True
        (error,) = struct.unpack_from("=i", reply, 16)
        return error != -errno.ECONNREFUSED


def _efi_flag(variable: str) -> bool:
    """A one-byte EFI global variable (efivarfs: 4 attribute bytes, then the value)."""
    if not os.path.exists("/sys/firmware/efi/"):
        return False
    try:
        with open(f"/sys/firmware/efi/efivars/{variable}-8be4df61-93ca-11d2-aa0d-00e098032b8c", "rb") as f:
            data = f.read()
    except OSError:
        return False
    return len(data) == 5 and data[4] != 0


def _tpm2() -> bool:
    """The kernel's TPM subsystem (/sys/class/tpmrm, ignored in containers) and the firmware's
    TPM2 ACPI table (on EFI boots) must both be there."""
    subsystem = detect_virtualization()[0] != "container" and os.path.isdir("/sys/class/tpmrm")
    firmware = os.path.exists("/sys/firmware/efi/") and os.path.exists("/sys/firmware/acpi/tables/TPM2")
    return subsystem and firmware


_SECURITY: dict[str, Callable[[], bool]] = {
    "selinux": _selinux,
    "smack": lambda: os.path.exists("/sys/fs/smackfs/"),
    "apparmor": lambda: boolean_or_none(_read_line("/sys/module/apparmor/parameters/enabled") or "") is True,
    "audit": _audit,
    "ima": lambda: os.path.exists("/sys/kernel/security/ima/"),
    "tomoyo": lambda: os.path.exists("/sys/kernel/security/tomoyo/version"),
    "uefi-secureboot": lambda: _efi_flag("SecureBoot"),
    "tpm2": _tpm2,
}


def _check_security(p: str) -> bool:
    check = _SECURITY.get(p)
    return check() if check is not None else False


def _credential_dir(variable: str, environ: Mapping[str, str]) -> str | None:
    value = environ.get(variable)
    if value is None:
        return None
    parts = value.split("/")
    if not value.startswith("/") or "." in parts or ".." in parts or "//" in value:
        raise Undetermined(f"${variable} is not a normalized absolute path")
    return value


def _check_credential(p: str, environ: Mapping[str, str]) -> bool:
    """Whether the manager was handed the credential: a file of that name in
    $CREDENTIALS_DIRECTORY or $ENCRYPTED_CREDENTIALS_DIRECTORY."""
    if not p or p in (".", "..") or "/" in p or len(p.encode()) > 255:
        return False
    for variable in ("CREDENTIALS_DIRECTORY", "ENCRYPTED_CREDENTIALS_DIRECTORY"):
        directory = _credential_dir(variable, environ)
        if directory is not None and os.path.lexists(os.path.join(directory, p)):
            return True
    return False


_SIMPLE: dict[str, Callable[[str], bool]] = {
    "PathExists": _path_exists,
    "PathExistsGlob": _path_exists_glob,
    "PathIsDirectory": _path_is_dir,
    "PathIsSymbolicLink": _path_is_symlink,
    "PathIsMountPoint": path_is_mount_point,
    "PathIsReadWrite": _path_is_read_write,
    "DirectoryNotEmpty": _dir_not_empty,
    "FileNotEmpty": _file_not_empty,
    "FileIsExecutable": _file_is_executable,
    "KernelCommandLine": _kernel_command_line,
    "Virtualization": _check_virtualization,
    "Host": _check_host,
    "User": _check_user,
    "Group": _check_group,
    "ACPower": _check_ac_power,
    "FirstBoot": _check_first_boot,
    "NeedsUpdate": _check_needs_update,
    "Architecture": _check_architecture,
    "Capability": _check_capability,
    "Security": _check_security,
}


def evaluate_one(c: Condition, environ: dict[str, str]) -> ConditionOutcome:
    try:
        if c.name == "Environment":
            raw = _check_environment(c.parameter, environ)
        elif c.name == "Credential":
            # The manager's own credentials, which its process environment names.
            raw = _check_credential(c.parameter, os.environ)
        elif c.name in _SIMPLE:
            raw = _SIMPLE[c.name](c.parameter)
        else:
            return ConditionOutcome(c, True, False)
    except Undetermined as e:
        log.warning("Couldn't determine result for %s%s=%s%s%s, assuming failed: %s", c.kind.value, c.name,
                    "|" if c.trigger else "", "!" if c.negate else "", c.parameter, e)
        return ConditionOutcome(c, False, True)
    return ConditionOutcome(c, raw != c.negate, True)


@dataclass
class CheckResult:
    passed: bool
    outcomes: list[ConditionOutcome]
    timestamp_usec: int
    failed: ConditionOutcome | None = None


def evaluate(conditions: list[Condition], kind: ConditionKind, environ: dict[str, str]) -> CheckResult:
    """systemd's rule: all non-triggering conditions must hold, and at least one triggering one if any."""
    outcomes = [evaluate_one(c, environ) for c in conditions if c.kind is kind]
    failed: ConditionOutcome | None = None
    triggers = [o for o in outcomes if o.condition.trigger]
    for o in outcomes:
        if not o.condition.trigger and not o.result:
            failed = o
            break
    if failed is None and triggers and not any(o.result for o in triggers):
        failed = triggers[0]
    return CheckResult(failed is None, outcomes, now_realtime_usec(), failed)
