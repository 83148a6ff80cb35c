"""Condition*= and Assert*= checks, evaluated when a unit is about to start."""

from __future__ import annotations

import fnmatch
import grp
import os
import platform
import pwd
import socket
from collections.abc import Callable
from dataclasses import dataclass

from compat.model import Condition, ConditionKind
from sysmasterd.core.clock import now_realtime_usec


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


def _path_is_mount_point(p: str) -> bool:
    return os.path.ismount(p)


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


def _virtualization() -> str:
    # systemd-detect-virt's answer is the reference; without it, a best guess from /proc.
    import shutil
    import subprocess

    tool = shutil.which("systemd-detect-virt")
    if tool:
        try:
            out = subprocess.run([tool], capture_output=True, text=True, timeout=5)
            return out.stdout.strip() or "none"
        except (OSError, subprocess.SubprocessError):
            pass
    return "none"


def _check_virtualization(p: str) -> bool:
    v = _virtualization()
    containers = {"openvz", "lxc", "lxc-libvirt", "systemd-nspawn", "docker", "podman", "rkt", "wsl", "proot",
                  "pouch"}
    if p in ("yes", "true", "1"):
        return v != "none"
    if p in ("no", "false", "0"):
        return v == "none"
    if p == "container":
        return v in containers
    if p == "vm":
        return v != "none" and v not in containers
    return v == p


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


def _check_first_boot(p: str) -> bool:
    first = not os.path.exists("/etc/machine-id") or os.path.getsize("/etc/machine-id") == 0
    return first == (p.lower() in ("yes", "true", "1", "on"))


def _check_needs_update(p: str) -> bool:
    # /etc or /var older than /usr means an offline update of /usr happened.
    try:
        return os.stat("/usr").st_mtime > os.stat(p).st_mtime
    except OSError:
        return False


def _check_architecture(p: str) -> bool:
    m = platform.machine()
    names = {"x86_64": "x86-64", "aarch64": "arm64", "i686": "x86", "riscv64": "riscv64"}
    return p in (m, names.get(m, m))


_SIMPLE: dict[str, Callable[[str], bool]] = {
    "PathExists": _path_exists,
    "PathExistsGlob": _path_exists_glob,
    "PathIsDirectory": _path_is_dir,
    "PathIsSymbolicLink": _path_is_symlink,
    "PathIsMountPoint": _path_is_mount_point,
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
}


def evaluate_one(c: Condition, environ: dict[str, str]) -> ConditionOutcome:
    if c.name == "Environment":
        raw = _check_environment(c.parameter, environ)
    elif c.name in _SIMPLE:
        raw = _SIMPLE[c.name](c.parameter)
    else:
        return ConditionOutcome(c, True, False)
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
