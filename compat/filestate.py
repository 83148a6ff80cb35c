"""Unit file states as `systemctl is-enabled` and UnitFileState report them.

enabled / enabled-runtime: a symlink to the unit in a config directory (/etc or /run) under a
`.wants/`, `.requires/` or `.upholds/` directory, or an Alias= link; linked / linked-runtime: the
unit file is a symlink to a file outside the search path; masked / masked-runtime; alias: the
name is an alias symlink; generated / transient: the file lives in a generator / transient
directory; otherwise disabled (has [Install] WantedBy=/RequiredBy=/Alias=), indirect (only
Also=, or a template without DefaultInstance=), static (no [Install] rules).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from compat import unitname
from compat.model import InstallSection
from compat.unitmap import UnitMap

_DEP_DIR_SUFFIXES = (".wants", ".requires", ".upholds")


def _is_under(path: str, directory: str | None) -> bool:
    return bool(directory) and (path == directory or path.startswith(str(directory).rstrip("/") + "/"))


def is_runtime_dir(umap: UnitMap, directory: str) -> bool:
    return _is_under(directory, umap.paths.in_root("/run"))


def config_dirs(umap: UnitMap) -> list[str]:
    """Search directories that hold configuration (under /etc or /run), not vendor files."""
    etc, run = umap.paths.in_root("/etc"), umap.paths.in_root("/run")
    # The scope's own config dirs count wherever they are (the user's live under ~/.config), as
    # systemd's path_is_config() has it.
    own = {umap.paths.persistent_config, umap.paths.runtime_config}
    result = []
    for d in umap.paths.search_path:
        if d in umap.paths.generator_dirs or d == umap.paths.transient_dir:
            continue
        if d in own or _is_under(d, etc) or _is_under(d, run):
            result.append(d)
    return result


@dataclass
class EnablementIndex:
    """Names that have enablement symlinks in config directories -> the directories holding them."""

    links: dict[str, list[str]] = field(default_factory=dict)
    # Units a config directory knows under another name (default.target -> graphical.target, an
    # alias no [Install] asked for): systemd calls those "indirect", they may be in use.
    aliased: set[str] = field(default_factory=set)

    @classmethod
    def build(cls, umap: UnitMap) -> EnablementIndex:
        index = cls()
        configs = config_dirs(umap)
        index.aliased = {e.alias_of for e in umap.entries.values()
                         if e.alias_of is not None and e.directory in configs}
        for directory in configs:
            for sub in umap.listing.get(directory, frozenset()):
                if not sub.endswith(_DEP_DIR_SUFFIXES):
                    continue
                path = os.path.join(directory, sub)
                try:
                    entries = os.listdir(path)
                except OSError:
                    continue
                for entry in entries:
                    if unitname.is_valid(entry) and os.path.islink(os.path.join(path, entry)):
                        index.links.setdefault(entry, []).append(directory)
        return index


def unit_file_state(
    umap: UnitMap, index: EnablementIndex, name: str, install: InstallSection | None
) -> str:
    parsed = unitname.parse(name)
    if parsed is None:
        return ""
    entry = umap.entries.get(name)
    if entry is None and parsed.is_instance:
        entry = umap.entries.get(parsed.template)
    if entry is None:
        return ""
    runtime = "-runtime" if is_runtime_dir(umap, entry.directory) else ""
    if umap.is_masked(entry.path):
        return "masked" + runtime
    fragment = umap.resolve(name) or entry.path
    if any(_is_under(fragment, g) for g in umap.paths.generator_dirs):
        return "generated"
    if _is_under(fragment, umap.paths.transient_dir):
        return "transient"
    if entry.alias_of is not None and entry.name == name:
        return "alias"
    enabled_in = _enabled_dirs(umap, index, name, parsed, install)
    if enabled_in:
        persistent = any(not is_runtime_dir(umap, d) for d in enabled_in)
        return "enabled" if persistent else "enabled-runtime"
    if entry.linked_to is not None:
        return "linked" + runtime
    if (parsed.is_template and _instance_links(index, parsed)) or name in index.aliased:
        # Some instance is enabled, but not the template's DefaultInstance=; or a config
        # directory has it under another name.
        return "indirect"
    if install is None:
        return "static"
    if install.wanted_by or install.required_by or install.alias:
        return "disabled"
    if install.also:
        return "indirect"
    return "static"


def _enabled_dirs(
    umap: UnitMap,
    index: EnablementIndex,
    name: str,
    parsed: unitname.UnitName,
    install: InstallSection | None,
) -> list[str]:
    dirs = list(index.links.get(name, []))
    if parsed.is_template and install and install.default_instance:
        default = unitname.try_instantiate(name, install.default_instance)
        dirs += index.links.get(default, []) if default else []
    for alias in install.alias if install else []:
        entry = umap.entries.get(alias)
        if entry is not None and entry.alias_of is not None and entry.directory in config_dirs(umap):
            dirs.append(entry.directory)
    return dirs


def _instance_links(index: EnablementIndex, template: unitname.UnitName) -> bool:
    prefix, suffix = f"{template.prefix}@", f".{template.suffix}"
    return any(link.startswith(prefix) and link.endswith(suffix) for link in index.links)
