"""The index of unit files across the search path: which file or alias each name maps to.

Mirrors systemd 252's unit_file_build_name_map(): the first directory in the search path that
has a name wins; a symlink that stays inside the search path is an alias (it maps to the target
*name*), one that leaves it is a linked unit file (or a mask, when it points to /dev/null).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field

from compat import unitname
from compat.search_path import LookupPaths

FOLLOW_MAX = 40


@dataclass(frozen=True)
class Entry:
    name: str
    path: str  # the file in the search directory (a regular file or a symlink)
    directory: str  # the search directory it was found in
    alias_of: str | None = None  # target unit name when this is an alias symlink
    linked_to: str | None = None  # resolved target when this symlink leaves the search path


def _normalize(path: str) -> str:
    """Collapse `.`, `..` and duplicate slashes without following symlinks."""
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    return "/" + "/".join(parts)


def is_masked_path(path: str) -> bool:
    """A mask: a symlink to /dev/null or an empty file (systemd's null_or_empty_path)."""
    try:
        st = os.stat(path)
    except OSError:
        return os.path.islink(path) and _normalize(os.readlink(path)) == "/dev/null"
    if stat.S_ISCHR(st.st_mode):
        return st.st_rdev == os.makedev(1, 3)
    return stat.S_ISREG(st.st_mode) and st.st_size == 0


@dataclass
class UnitMap:
    paths: LookupPaths
    entries: dict[str, Entry] = field(default_factory=dict)
    # name -> all names whose chain ends in the same file (the unit's aliases), from the index
    aliases: dict[str, list[str]] = field(default_factory=dict)
    # Entries of every search directory, so drop-in lookups need no failed stat() calls.
    listing: dict[str, frozenset[str]] = field(default_factory=dict)
    # Every entry of any search directory: most units have no drop-in directory anywhere, and
    # one lookup here says so without walking the search path.
    listed: set[str] = field(default_factory=set)
    # is_masked() answers for paths in the index, valid until the next build (daemon-reload).
    masked: dict[str, bool] = field(default_factory=dict)

    @classmethod
    def build(cls, paths: LookupPaths) -> UnitMap:
        umap = cls(paths)
        expanded = list(paths.search_path)
        for d in paths.search_path:
            real = os.path.realpath(d)
            if real not in expanded and os.path.isdir(real):
                expanded.append(real)
        for directory in paths.search_path:
            try:
                with os.scandir(directory) as it:
                    names = sorted(e.name for e in it)
            except OSError:
                continue
            umap.listing[directory] = frozenset(names)
            umap.listed.update(names)
            for name in names:
                if name in umap.entries or not unitname.is_valid(name):
                    continue
                entry = umap._entry(directory, name, expanded)
                if entry is not None:
                    umap.entries[name] = entry
        for name in umap.entries:
            fragment = umap.resolve(name)
            if fragment is None or umap.is_masked(fragment):
                continue
            target = os.path.basename(fragment)
            parsed = unitname.parse(name)
            if unitname.is_valid(target, plain=False, instance=False) and parsed and parsed.is_instance:
                instantiated = unitname.try_instantiate(target, parsed.instance or "")
                if instantiated is None:
                    continue
                target = instantiated
            umap.aliases.setdefault(target, []).append(name)
        return umap

    def note_created(self, directory: str, name: str) -> None:
        """The manager made `directory`/`name` itself (a set-property drop-in directory): drop-ins
        of a unit loaded again before the next daemon-reload must see it, as systemd's do."""
        if directory in self.paths.search_path:
            self.listing[directory] = self.listing.get(directory, frozenset()) | {name}
            self.listed.add(name)

    def _entry(self, directory: str, name: str, search: list[str]) -> Entry | None:
        full = os.path.join(directory, name)
        try:
            st = os.lstat(full)
        except OSError:
            return None
        if stat.S_ISREG(st.st_mode):
            self.masked[full] = st.st_size == 0
            return Entry(name, full, directory)
        if not stat.S_ISLNK(st.st_mode):
            return None
        try:
            target = os.readlink(full)
        except OSError:
            return None
        if os.path.isabs(target):
            target = self.paths.in_root(target)
        else:
            target = os.path.join(directory, target)
        resolved = _normalize(target)
        if os.path.isdir(resolved):
            return None
        inside = any(resolved.startswith(d.rstrip("/") + "/") for d in search)
        if inside:
            return Entry(name, full, directory, alias_of=os.path.basename(resolved))
        return Entry(name, full, directory, linked_to=resolved)

    def is_masked(self, path: str) -> bool:
        """is_masked_path(), remembered: a unit's file is checked when the index is built, when
        it loads and for its file state."""
        masked = self.masked.get(path)
        if masked is None:
            masked = self.masked[path] = is_masked_path(path)
        return masked

    def resolve(self, name: str) -> str | None:
        """Follow aliases to the fragment path; an instance falls back to its template's file."""
        current = name
        for _ in range(FOLLOW_MAX):
            entry = self.entries.get(current)
            if entry is None:
                parsed = unitname.parse(current)
                if current == name or parsed is None or not parsed.is_instance:
                    return None
                entry = self.entries.get(parsed.template)
                if entry is None:
                    return None
            if entry.alias_of is None:
                return entry.path
            current = entry.alias_of
        return None

    def find_fragment(self, name: str) -> tuple[str | None, list[str]]:
        """Fragment path and all names of the unit (systemd's unit_file_find_fragment())."""
        parsed = unitname.parse(name)
        if parsed is None:
            return None, [name]
        names: list[str] = []
        self._add_names(names, name, parsed, None, name)
        fragment = self.resolve(name)
        if fragment is None and parsed.is_instance:
            fragment = self.resolve(parsed.template)
        if fragment is not None:
            base = os.path.basename(fragment)
            if base != name:
                self._add_names(names, name, parsed, base, base)
        return fragment, names

    def _add_names(
        self, names: list[str], unit: str, parsed: unitname.UnitName, fragment_base: str | None, name: str
    ) -> None:
        name_parsed = unitname.parse(name)
        if not parsed.is_template and name_parsed is not None:
            own: str | None = name
            if name_parsed.is_template and parsed.is_instance:
                own = unitname.try_instantiate(name, parsed.instance or "")
            if own is not None and own not in names:
                names.append(own)
        for alias in self.aliases.get(name, []):
            if parsed.is_instance and unitname.is_valid(alias, plain=False, instance=False):
                candidate = unitname.try_instantiate(alias, parsed.instance or "")
                if candidate is None:
                    continue
                other = self.resolve(candidate)
                if other is not None and fragment_base and os.path.basename(other) != fragment_base:
                    continue
                alias = candidate
            if alias not in names:
                names.append(alias)

    def real_path(self, fragment: str) -> str:
        """Where to read a fragment: a linked unit's target, resolved inside the root directory."""
        entry = self.entries.get(os.path.basename(fragment))
        if entry is not None and entry.path == fragment and entry.linked_to and not is_masked_path(fragment):
            return entry.linked_to
        return fragment

    def all_names(self) -> list[str]:
        return sorted(self.entries)
