"""Unit specifiers (`%n`, `%i`, `%H`, ...) as systemd 252's unit_full_printf() expands them.

Expansion is pure: host facts (hostname, machine-id, users, scope directories) come in a
`HostFacts` built once at the edge by `HostFacts.from_host()`.
"""

from __future__ import annotations

import grp
import os
import platform
import pwd
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from compat import unitname
from compat.model import Scope

# Which specifiers systemd treats as reserved: an unknown letter or digit after % is an error,
# anything else stays literally.
_POSSIBLE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")

# uname -m -> systemd's architecture names (`systemd-analyze architectures`).
_ARCHITECTURES = {
    "x86_64": "x86-64", "i386": "x86", "i486": "x86", "i586": "x86", "i686": "x86",
    "aarch64": "arm64", "aarch64_be": "arm64-be", "armv7l": "arm", "armv6l": "arm",
    "ppc64le": "ppc64-le", "ppc64": "ppc64", "ppc": "ppc", "s390x": "s390x", "s390": "s390",
    "riscv64": "riscv64", "loongarch64": "loongarch64", "mips64": "mips64", "sw_64": "sw_64",
}  # fmt: skip


def _read_first_line(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.readline().strip() or None
    except OSError:
        return None


def read_os_release(root: str = "/") -> dict[str, str]:
    for candidate in ("etc/os-release", "usr/lib/os-release"):
        try:
            with open(os.path.join(root, candidate), encoding="utf-8", errors="replace") as f:
                text = f.read()
        except OSError:
            continue
        result = {}
        for line in text.splitlines():
            key, eq, value = line.strip().partition("=")
            if eq and key and not key.startswith("#"):
                value = value.strip()
                if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                    value = value[1:-1]
                result[key] = value
        return result
    return {}


@dataclass(frozen=True)
class HostFacts:
    """Everything specifiers need from outside the unit file. None: not available on this host."""

    scope: Scope = Scope.SYSTEM
    hostname: str = "localhost"
    pretty_hostname: str | None = None
    machine_id: str | None = None
    boot_id: str | None = None
    kernel_release: str = ""
    architecture: str = ""
    os_release: Mapping[str, str] = field(default_factory=dict)
    user_name: str = "root"
    uid: int = 0
    group_name: str = "root"
    gid: int = 0
    home: str = "/root"
    shell: str = "/bin/sh"
    runtime_dir: str | None = "/run"
    state_dir: str = "/var/lib"
    cache_dir: str = "/var/cache"
    logs_dir: str = "/var/log"
    config_dir: str = "/etc"
    tmp_dir: str = "/tmp"
    var_tmp_dir: str = "/var/tmp"
    # For percentages in TasksMax= / MemoryMax= (systemd scales them by these).
    tasks_max: int = 4194303
    physical_memory: int = 0

    @classmethod
    def from_host(cls, scope: Scope, environ: Mapping[str, str] | None = None) -> HostFacts:
        env = os.environ if environ is None else environ
        uid = os.getuid() if scope is Scope.USER else 0
        gid = os.getgid() if scope is Scope.USER else 0
        try:
            pw = pwd.getpwuid(uid)
            user_name, pw_home, shell = pw.pw_name, pw.pw_dir, pw.pw_shell or "/bin/sh"
        except KeyError:
            user_name, pw_home, shell = str(uid), "/", "/bin/sh"
        try:
            group_name = grp.getgrgid(gid).gr_name
        except KeyError:
            group_name = str(gid)
        home = env.get("HOME", "") if scope is Scope.USER else ""
        if not home.startswith("/"):
            home = pw_home
        uname = os.uname()
        hostname = uname.nodename or "localhost"
        tmp = next((env[k] for k in ("TMPDIR", "TEMP", "TMP") if env.get(k, "").startswith("/")), None)
        common = dict(
            scope=scope,
            hostname=hostname,
            pretty_hostname=_pretty_hostname(),
            machine_id=_read_first_line("/etc/machine-id"),
            boot_id=(_read_first_line("/proc/sys/kernel/random/boot_id") or "").replace("-", "") or None,
            kernel_release=uname.release,
            architecture=_ARCHITECTURES.get(platform.machine(), platform.machine()),
            os_release=read_os_release(),
            user_name=user_name,
            uid=uid,
            group_name=group_name,
            gid=gid,
            home=home,
            shell=shell,
            tmp_dir=tmp or "/tmp",
            var_tmp_dir=tmp or "/var/tmp",
            tasks_max=_system_tasks_max(),
            physical_memory=os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"),
        )
        if scope is Scope.SYSTEM:
            return cls(**common)  # type: ignore[arg-type]
        config = env.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
        return cls(
            **common,  # type: ignore[arg-type]
            runtime_dir=env.get("XDG_RUNTIME_DIR") or None,
            # systemd 252 puts a user's state and logs under the config home.
            state_dir=config,
            cache_dir=env.get("XDG_CACHE_HOME") or os.path.join(home, ".cache"),
            logs_dir=os.path.join(config, "log"),
            config_dir=config,
        )


def _system_tasks_max() -> int:
    """min(kernel.threads-max, kernel.pid_max - 1), as systemd's system_tasks_max()."""
    limits = []
    for path, adjust in (("/proc/sys/kernel/threads-max", 0), ("/proc/sys/kernel/pid_max", -1)):
        value = _read_first_line(path)
        if value and value.isdigit():
            limits.append(int(value) + adjust)
    return min(limits, default=4194303)


def _pretty_hostname() -> str | None:
    try:
        with open("/etc/machine-info", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.strip().partition("=")
                if key == "PRETTY_HOSTNAME":
                    return value.strip("\"'") or None
    except OSError:
        pass
    return None


class SpecifierError(ValueError):
    """A specifier that cannot be expanded; `reason` is the errno text systemd logs with it."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def _require(value: str | None, what: str) -> str:
    if value is None:
        raise SpecifierError(f"{what} is not available", "No such file or directory")
    return value


def _unescaped(text: str, unescape: Callable[[str], str]) -> str:
    try:
        return unescape(text)
    except ValueError as e:
        raise SpecifierError(str(e), "Invalid argument") from None


def _last_component(prefix: str) -> str:
    return prefix.rsplit("-", 1)[-1]


def _unit_table(name: str, fragment_path: str | None) -> dict[str, Callable[[], str]]:
    parsed = unitname.parse(name)
    if parsed is None:
        raise SpecifierError(f"invalid unit name {name}", "Invalid argument")
    instance = parsed.instance or ""
    prefix = parsed.prefix
    stem = name[: -len(parsed.suffix) - 1]
    return {
        "n": lambda: name,
        "N": lambda: stem,
        "p": lambda: prefix,
        "P": lambda: _unescaped(prefix, unitname.unescape),
        "i": lambda: instance,
        "I": lambda: _unescaped(instance, unitname.unescape),
        "j": lambda: _last_component(prefix),
        "J": lambda: _unescaped(_last_component(prefix), unitname.unescape),
        "f": lambda: _unescaped(instance or prefix, unitname.path_unescape),
        "y": lambda: os.path.realpath(_require(fragment_path, "fragment path")),
        "Y": lambda: os.path.dirname(os.path.realpath(_require(fragment_path, "fragment path"))),
    }


def _host_table(facts: HostFacts, name: str) -> dict[str, Callable[[], str]]:
    osr = facts.os_release

    def os_field(key: str) -> Callable[[], str]:
        return lambda: osr.get(key, "")

    scope_slice = "/system.slice" if facts.scope is Scope.SYSTEM else "/app.slice"
    return {
        "a": lambda: facts.architecture,
        "A": os_field("IMAGE_VERSION"),
        "b": lambda: _require(facts.boot_id, "boot ID"),
        "B": os_field("BUILD_ID"),
        "H": lambda: facts.hostname,
        "l": lambda: facts.hostname.split(".", 1)[0],
        "q": lambda: facts.pretty_hostname or facts.hostname,
        "m": lambda: _require(facts.machine_id, "machine ID"),
        "M": os_field("IMAGE_ID"),
        "o": os_field("ID"),
        "v": lambda: facts.kernel_release,
        "w": os_field("VERSION_ID"),
        "W": os_field("VARIANT_ID"),
        "g": lambda: facts.group_name,
        "G": lambda: str(facts.gid),
        "u": lambda: facts.user_name,
        "U": lambda: str(facts.uid),
        "T": lambda: facts.tmp_dir,
        "V": lambda: facts.var_tmp_dir,
        "h": lambda: facts.home,
        "s": lambda: facts.shell,
        "t": lambda: _require(facts.runtime_dir, "runtime directory ($XDG_RUNTIME_DIR)"),
        "S": lambda: facts.state_dir,
        "C": lambda: facts.cache_dir,
        "L": lambda: facts.logs_dir,
        "E": lambda: facts.config_dir,
        "d": lambda: os.path.join(_require(facts.runtime_dir, "runtime directory"), "credentials", name),
        # Deprecated cgroup specifiers, still resolved by systemd 252.
        "c": lambda: f"{scope_slice}/{name}",
        "r": lambda: scope_slice,
        "R": lambda: "/",
    }


# Unit *names* (After=, Wants=, ...) only get the specifiers that are safe in names.
_NAME_SPECIFIERS = frozenset("ijnNp" "aAbBHlqmMovwW" "gGuU")


def expand(
    text: str,
    name: str,
    facts: HostFacts,
    fragment_path: str | None = None,
    *,
    names_only: bool = False,
) -> str:
    """Expand specifiers in `text` for unit `name`; SpecifierError on an unknown or unavailable one."""
    if "%" not in text:
        return text
    table = _unit_table(name, fragment_path) | _host_table(facts, name)
    out: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c != "%":
            out.append(c)
            i += 1
            continue
        if i + 1 >= len(text):
            out.append("%")  # a stray trailing % stays
            break
        spec = text[i + 1]
        i += 2
        if spec == "%":
            out.append("%")
        elif spec in table and (not names_only or spec in _NAME_SPECIFIERS):
            out.append(table[spec]())
        elif spec in _POSSIBLE:
            raise SpecifierError(f"unknown specifier '%{spec}'", "Invalid slot")
        else:
            out.append("%" + spec)
    return "".join(out)
