"""Drop-in directories of a unit: `NAME.d/*.conf`, `NAME.wants/`, `NAME.requires/`, `NAME.upholds/`.

Directories are searched for every name of the unit, its template, its dash-prefixes and finally
the unit type (`service.d/`), in every search directory (systemd 252's
unit_file_find_dropin_paths()). Files are then merged by file name: the first directory (the
higher-priority one) wins, a file masked by a /dev/null symlink or an empty file hides the
lower-priority ones, and the survivors are applied in file-name order.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from compat import unitname
from compat.unitmap import UnitMap


def dropin_dirs_by_suffix(umap: UnitMap, names: Iterable[str], suffixes: tuple[str, ...]) -> dict[str, list[str]]:
    """Existing `<stem><suffix>` directories for each suffix, highest priority first, in one
    walk over the search path (it is per-unit work)."""
    names = list(names)
    found: dict[str, list[str]] = {suffix: [] for suffix in suffixes}
    kind = unitname.kind_of(names[0]) if names else None
    # Same order as systemd: each name in turn, through the search path, its stems in order.
    for name in names:
        stems = unitname.dropin_stems(name)
        if not any(stem + suffix in umap.listed for stem in stems for suffix in suffixes):
            continue
        for directory in umap.paths.search_path:
            listing = umap.listing.get(directory)
            if listing is None:
                continue
            for stem in stems:
                for suffix in suffixes:
                    entry = stem + suffix
                    if entry in listing:
                        path = os.path.join(directory, entry)
                        if path not in found[suffix] and os.path.isdir(path):
                            found[suffix].append(path)
    if kind is not None:
        for suffix in suffixes:
            entry = kind.value + suffix
            if entry not in umap.listed:
                continue
            for directory in umap.paths.search_path:
                listing = umap.listing.get(directory)
                if listing is not None and entry in listing:
                    path = os.path.join(directory, entry)
                    if os.path.isdir(path):
                        found[suffix].append(path)
    return found


def conf_files(dirs: Iterable[str], suffix: str | None = ".conf") -> list[str]:
    """Entries of `dirs` merged by name, the first (higher-priority) directory winning, sorted by
    name (conf_files_list()). Masks stay in the list: a /dev/null link reads as empty and hides
    the same name below it; dangling links stay too (systemd skips them when reading)."""
    chosen: dict[str, str] = {}
    for directory in dirs:
        try:
            entries = os.listdir(directory)
        except OSError:
            continue
        for entry in entries:
            if entry.startswith(".") or (suffix is not None and not entry.endswith(suffix)):
                continue
            path = os.path.join(directory, entry)
            if os.path.isdir(path) and not os.path.islink(path):
                continue
            chosen.setdefault(entry, path)
    return [chosen[e] for e in sorted(chosen)]
