"""Unit search paths for the system, user and global scopes, in systemd 252's order (path-lookup.c).

sysmaster's own directories sit just before their systemd counterparts, so a unit under
/etc/sysmaster/system overrides the same unit under /etc/systemd/system, and so on for /run and
/usr/lib. `SYSTEMD_UNIT_PATH` (and `--unit-path`) replace the list; a trailing `:` appends the
defaults after the given directories, exactly as systemd does.
"""

from __future__ import annotations

import os
import pwd
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from compat.model import Scope

# Debian builds systemd 252 with rootprefix=/: the data unit dir is /lib/systemd/system.
SYSTEM_DATA_UNIT_DIR = "/lib/systemd/system"
USER_DATA_UNIT_DIR = "/usr/lib/systemd/user"


@dataclass(frozen=True)
class LookupPaths:
    scope: Scope
    search_path: tuple[str, ...]
    # Where `enable` writes (persistent) and `enable --runtime` writes (runtime).
    persistent_config: str
    runtime_config: str | None
    # Directories whose units count as "generated"/"transient" for unit-file states.
    generator_dirs: tuple[str, ...] = ()
    transient_dir: str | None = None
    root_dir: str = "/"

    def in_root(self, path: str) -> str:
        """`path` under the root directory (for --root style operation in tests)."""
        if self.root_dir == "/":
            return path
        return os.path.join(self.root_dir, path.lstrip("/"))


def control_dir(config_dir: str) -> str:
    """Where set-property keeps its drop-ins for a config directory (systemd's *.control)."""
    return config_dir.rstrip("/") + ".control"


def _home(env: Mapping[str, str]) -> str:
    home = env.get("HOME", "")
    if home.startswith("/"):
        return home
    try:
        return pwd.getpwuid(os.getuid()).pw_dir
    except KeyError:
        return "/"


def _system_defaults() -> tuple[list[str], str, str | None, list[str], str | None]:
    generator = ["/run/systemd/generator.early", "/run/systemd/generator", "/run/systemd/generator.late"]
    paths = [
        "/etc/systemd/system.control",
        "/run/systemd/system.control",
        "/run/systemd/transient",
        "/run/systemd/generator.early",
        "/etc/sysmaster/system",
        "/etc/systemd/system",
        "/etc/systemd/system.attached",
        "/run/sysmaster/system",
        "/run/systemd/system",
        "/run/systemd/system.attached",
        "/run/systemd/generator",
        "/usr/local/lib/systemd/system",
        "/usr/lib/sysmaster/system",
        SYSTEM_DATA_UNIT_DIR,
        "/usr/lib/systemd/system",
        "/run/systemd/generator.late",
    ]
    return paths, "/etc/systemd/system", "/run/systemd/system", generator, "/run/systemd/transient"


def _user_defaults(env: Mapping[str, str]) -> tuple[list[str], str, str | None, list[str], str | None]:
    home = _home(env)
    config_home = env.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
    data_home = env.get("XDG_DATA_HOME") or os.path.join(home, ".local/share")
    runtime = env.get("XDG_RUNTIME_DIR") or None
    config_dirs = (env.get("XDG_CONFIG_DIRS") or "/etc/xdg").split(":")
    data_dirs = (env.get("XDG_DATA_DIRS") or "/usr/local/share:/usr/share").split(":")

    def rt(suffix: str) -> list[str]:
        return [os.path.join(runtime, suffix)] if runtime else []

    persistent = os.path.join(config_home, "systemd/user")
    runtime_config = os.path.join(runtime, "systemd/user") if runtime else None
    generator = rt("systemd/generator.early") + rt("systemd/generator") + rt("systemd/generator.late")
    paths = [
        os.path.join(config_home, "systemd/user.control"),
        *rt("systemd/user.control"),
        *rt("systemd/transient"),
        *rt("systemd/generator.early"),
        os.path.join(config_home, "sysmaster/user"),
        persistent,
        *[os.path.join(d, "systemd/user") for d in config_dirs if d],
        "/etc/sysmaster/user",
        "/etc/systemd/user",
        *rt("sysmaster/user"),
        *rt("systemd/user"),
        "/run/systemd/user",
        *rt("systemd/generator"),
        os.path.join(data_home, "systemd/user"),
        *[os.path.join(d, "systemd/user") for d in data_dirs if d],
        "/usr/local/lib/systemd/user",
        "/usr/local/share/systemd/user",
        "/usr/lib/sysmaster/user",
        USER_DATA_UNIT_DIR,
        "/usr/lib/systemd/user",
        "/usr/share/systemd/user",
        *rt("systemd/generator.late"),
    ]
    transient = os.path.join(runtime, "systemd/transient") if runtime else None
    return paths, persistent, runtime_config, generator, transient


def _global_defaults() -> tuple[list[str], str, str | None, list[str], str | None]:
    """The user units of every user: no home, runtime, generator or transient directories."""
    paths = ["/etc/sysmaster/user", "/etc/systemd/user", "/run/sysmaster/user", "/run/systemd/user",
             "/usr/local/share/systemd/user", "/usr/share/systemd/user", "/usr/local/lib/systemd/user",
             "/usr/lib/sysmaster/user", USER_DATA_UNIT_DIR]
    return paths, "/etc/systemd/user", "/run/systemd/user", [], None


def _split_unit_path(value: str) -> tuple[list[str], bool]:
    append = value.endswith(":")
    if append:
        value = value[:-1]
    # systemd makes relative entries absolute against the cwd and drops empty ones.
    return [os.path.abspath(p) for p in value.split(":") if p], append


def _uniq(paths: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(paths))


def lookup_paths(
    scope: Scope,
    unit_path: Sequence[str] | str | None = None,
    environ: Mapping[str, str] | None = None,
    root_dir: str = "/",
) -> LookupPaths:
    """The search path for `scope`.

    `unit_path`: an explicit list (`--unit-path DIR`, repeatable) or a colon string with
    SYSTEMD_UNIT_PATH semantics; when None, SYSTEMD_UNIT_PATH from `environ` is used.
    """
    env = os.environ if environ is None else environ
    if scope is Scope.SYSTEM:
        defaults, persistent, runtime, generator, transient = _system_defaults()
    elif scope is Scope.GLOBAL:
        defaults, persistent, runtime, generator, transient = _global_defaults()
    else:
        defaults, persistent, runtime, generator, transient = _user_defaults(env)
    if unit_path is None:
        unit_path = env.get("SYSTEMD_UNIT_PATH")
    if isinstance(unit_path, str):
        given, append = _split_unit_path(unit_path)
    elif unit_path:
        given = [p for entry in unit_path for p in _split_unit_path(entry)[0]]
        append = any(entry.endswith(":") for entry in unit_path)
    else:
        given, append = [], True
    paths = given + defaults if append else given

    def rooted(p: str) -> str:
        return p if root_dir == "/" else os.path.join(root_dir, p.lstrip("/"))

    return LookupPaths(
        scope=scope,
        search_path=_uniq([rooted(p) for p in paths]),
        persistent_config=rooted(persistent),
        runtime_config=rooted(runtime) if runtime else None,
        generator_dirs=tuple(rooted(g) for g in generator),
        transient_dir=rooted(transient) if transient else None,
        root_dir=root_dir,
    )
