"""Loading units by name: search path + fragment + drop-ins + .wants/.requires -> LoadedUnit.

The only module of compat that reads the file system for loading (install.py writes symlinks).
A UnitLoader indexes the search path once (like systemd's unit name map) and loads units on
demand; `rescan()` is daemon-reload.
"""

from __future__ import annotations

import errno
import io
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from compat import unitname
from compat.config import build_config, sections_for
from compat.dropins import conf_files, dropin_dirs_by_suffix
from compat.filestate import EnablementIndex, unit_file_state
from compat.model import Diagnostic, InstallSection, Scope, Severity, UnitConfig, UnitKind
from compat.search_path import LookupPaths, lookup_paths
from compat.specifiers import HostFacts
from compat.syntax import Assignment, decode, parse
from compat.unitmap import UnitMap, is_masked_path

# Unit types that systemd refuses to load without a fragment file (their *_load() requires one).
_FRAGMENT_REQUIRED = frozenset(
    {UnitKind.SERVICE, UnitKind.TARGET, UnitKind.SOCKET, UnitKind.TIMER, UnitKind.PATH, UnitKind.AUTOMOUNT}
)
# Slices and devices exist whether a file describes them or not (system-getty.slice, app.slice,
# dev-sda.device): systemd's slice_load() and device_load() do not require a fragment.
_NEVER_NOT_FOUND = frozenset({UnitKind.SLICE, UnitKind.DEVICE})
# Units every manager has, made by the manager itself (systemd's perpetual init.scope).
_PERPETUAL_WITHOUT_FILE = frozenset({"init.scope"})
# Dependency directories and the [Unit] list they extend.
_DEP_DIRS = ((".wants", "wants"), (".requires", "requires"), (".upholds", "upholds"))
_DROPIN_SUFFIXES = (".d", *(suffix for suffix, _attr in _DEP_DIRS))
MAX_UNIT_FILE_SIZE = 4 * 1024 * 1024
_READ_CHUNK = 64 * 1024
_SELF_DEPENDENCY_FIELDS = {
    "Requires": "requires", "Requisite": "requisite", "Wants": "wants", "BindsTo": "binds_to",
    "PartOf": "part_of", "Upholds": "upholds", "Conflicts": "conflicts", "Before": "before", "After": "after",
    "OnFailure": "on_failure", "OnSuccess": "on_success", "PropagatesReloadTo": "propagates_reload_to",
    "ReloadPropagatedFrom": "reload_propagated_from", "PropagatesStopTo": "propagates_stop_to",
    "StopPropagatedFrom": "stop_propagated_from", "JoinsNamespaceOf": "joins_namespace_of",
}  # fmt: skip
# systemd's unit_should_warn_about_dependency(): the rest are dropped silently.
_WARN_SELF_DEPENDENCY = frozenset({"Conflicts", "Before", "After", "OnSuccess", "OnFailure"})


@dataclass
class LoadedUnit:
    name: str  # the unit's id: the fragment's name (instance filled in) when one was found
    kind: UnitKind | None
    names: list[str]  # all names, the id first, then aliases
    load_state: str  # loaded | not-found | bad-setting | error | masked
    load_error: str | None = None  # human reason, as status shows it
    fragment_path: str | None = None
    dropin_paths: list[str] = field(default_factory=list)
    config: UnitConfig | None = None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    unit_file_state: str = ""

    @property
    def loaded(self) -> bool:
        return self.load_state == "loaded"


@dataclass(frozen=True)
class UnitFile:
    """One row of list-unit-files."""

    path: str
    name: str
    state: str


def _read_bounded(f: io.RawIOBase, limit: int) -> bytes:
    """At most `limit` bytes. One read(limit) would allocate the whole limit for every small
    unit file; chunks cost one extra read at the end instead."""
    data = bytearray()
    while len(data) < limit:
        chunk = f.read(min(_READ_CHUNK, limit - len(data)))
        if not chunk:
            break
        data += chunk
    return bytes(data)


class UnitLoader:
    def __init__(
        self,
        scope: Scope = Scope.SYSTEM,
        unit_path: Sequence[str] | str | None = None,
        environ: Mapping[str, str] | None = None,
        *,
        root_dir: str = "/",
        facts: HostFacts | None = None,
    ) -> None:
        self.scope = scope
        self.paths: LookupPaths = lookup_paths(scope, unit_path, environ, root_dir)
        self.facts = facts or HostFacts.from_host(scope, environ)
        self.rescan()

    def rescan(self) -> None:
        """Re-read the search directories (daemon-reload)."""
        self.map = UnitMap.build(self.paths)
        self.enablement = EnablementIndex.build(self.map)

    # -----------------------------------------------------------------------------------------

    def all_names(self) -> list[str]:
        """Every unit name that has a file or alias in the search path (templates included)."""
        return self.map.all_names()

    def list_unit_files(self) -> list[UnitFile]:
        """Like `systemctl list-unit-files`: each name with its file and state, sorted by name."""
        return [UnitFile(self.map.entries[name].path, name, self.file_state(name)) for name in self.map.all_names()]

    def file_state(self, name: str) -> str:
        """What `systemctl is-enabled NAME` reports ("" when there is no such unit file)."""
        return unit_file_state(self.map, self.enablement, name, self.install_section(name))

    def install_section(self, name: str) -> InstallSection | None:
        """The [Install] section of the unit file behind `name` (templates included)."""
        fragment, _ = self.map.find_fragment(name)
        kind = unitname.kind_of(name)
        if fragment is None or kind is None or is_masked_path(fragment):
            return None
        assignments: list[Assignment] = []
        if self._read_into(fragment, kind, assignments, []) is not None:
            return None
        install = [a for a in assignments if a.section == "Install"]
        return build_config(name, kind, install, self.facts, fragment).config.install

    # -----------------------------------------------------------------------------------------

    def load(self, name: str) -> LoadedUnit:
        parsed = unitname.parse(name)
        if parsed is None or parsed.is_template:
            return LoadedUnit(name, parsed.kind if parsed else None, [name], "error", f"Unit name {name} is not valid.")
        fragment, names = self.map.find_fragment(name)
        unit_id = name
        if fragment is not None:
            base = os.path.basename(fragment)
            base_parsed = unitname.parse(base)
            if base_parsed is not None and base_parsed.kind is parsed.kind:
                if base_parsed.is_template:
                    unit_id = unitname.try_instantiate(base, parsed.instance or "") or name
                else:
                    unit_id = base
        names = [unit_id] + [n for n in names if n != unit_id]
        if name not in names:
            names.append(name)
        unit = LoadedUnit(unit_id, parsed.kind, names, "loaded", fragment_path=fragment)
        if fragment is not None and self.map.is_masked(fragment):
            unit.load_state = "masked"
            unit.load_error = f"Unit {unit_id} is masked."
            unit.unit_file_state = unit_file_state(self.map, self.enablement, name, None)
            return unit
        dirs = dropin_dirs_by_suffix(self.map, names, _DROPIN_SUFFIXES)
        unit.dropin_paths = conf_files(dirs[".d"])
        exists_anyway = parsed.kind in _NEVER_NOT_FOUND or unit_id in _PERPETUAL_WITHOUT_FILE
        if fragment is None and (parsed.kind in _FRAGMENT_REQUIRED or (not unit.dropin_paths and not exists_anyway)):
            unit.load_state = "not-found"
            unit.load_error = f"Unit {name} not found."
            unit.fragment_path = None
            return unit
        files = [fragment, *unit.dropin_paths] if fragment else unit.dropin_paths
        assignments: list[Assignment] = []
        syntax: list[Diagnostic] = []
        read_error: str | None = None
        for path in files:
            read_error = self._read_into(path, parsed.kind, assignments, syntax)
            if read_error is not None:
                break
        result = build_config(unit_id, parsed.kind, assignments, self.facts, fragment, verify=read_error is None)
        order = {path: i for i, path in enumerate(files)}

        def position(path: str, line: int) -> tuple[int, float]:
            return order.get(path, len(order)), line or float("inf")

        # systemd reads line by line and stops at the first fatal line: what it reports is the
        # syntax and setting warnings interleaved in file order, up to that line.
        # A refusal always comes before a read error, as only lines before that error were applied.
        stop = result.refused_at
        if stop is not None:
            cutoff = position(stop.path, stop.line)
            syntax = [d for d in syntax if position(d.path, d.line) <= cutoff]
            read_error = None
        unit.diagnostics = sorted(syntax + result.diagnostics, key=lambda d: position(d.path, d.line))
        if read_error is not None:
            unit.load_state, unit.load_error = "error", read_error
            return unit
        unit.config = result.config
        self._add_dependency_dirs(unit, dirs)
        self._drop_self_dependencies(unit)
        if result.refused_errno:
            unit.load_state, unit.load_error = "error", result.refused_errno
        elif result.refused:
            unit.load_state = "bad-setting"
            unit.load_error = f"Unit {unit_id} has a bad unit file setting."
        install = result.config.install if fragment else None
        unit.unit_file_state = unit_file_state(self.map, self.enablement, name, install)
        return unit

    def _read_into(
        self, path: str, kind: UnitKind, into: list[Assignment], diagnostics: list[Diagnostic]
    ) -> str | None:
        """Parse one file, appending its assignments; the load error if the file is unusable."""
        try:
            with open(self.map.real_path(path), "rb", buffering=0) as f:
                data = _read_bounded(f, MAX_UNIT_FILE_SIZE + 1)
        except FileNotFoundError:
            return None  # a dangling drop-in link: systemd skips it silently
        except OSError as e:
            diagnostics.append(Diagnostic(path, 0, f"Failed to read unit file: {e.strerror}", Severity.ERROR))
            return os.strerror(e.errno or errno.EIO)
        if len(data) > MAX_UNIT_FILE_SIZE:
            diagnostics.append(Diagnostic(path, 0, "Unit file too large", Severity.ERROR))
            return os.strerror(errno.EFBIG)
        parsed = parse(decode(data), path, sections_for(kind))
        diagnostics += parsed.diagnostics
        into += parsed.assignments  # on a fatal line, these are the lines systemd applied before it
        return parsed.fatal

    def _drop_self_dependencies(self, unit: LoadedUnit) -> None:
        """systemd ignores dependencies of a unit on itself (by any of its names)."""
        assert unit.config is not None
        section = unit.config.unit
        names = set(unit.names)
        for key, attr in _SELF_DEPENDENCY_FIELDS.items():
            deps: list[str] = getattr(section, attr)
            if names.isdisjoint(deps):
                continue
            kept = [d for d in deps if d not in names]
            if len(kept) != len(deps):
                setattr(section, attr, kept)
                if key in _WARN_SELF_DEPENDENCY:
                    path = unit.fragment_path or unit.name
                    unit.diagnostics.append(Diagnostic(path, 0, f"Dependency {key}={unit.name} is dropped."))

    def _add_dependency_dirs(self, unit: LoadedUnit, dirs: dict[str, list[str]]) -> None:
        """`.wants/`, `.requires/`, `.upholds/` symlinks, as systemd's process_deps() reads them."""
        assert unit.config is not None
        for suffix, attr in _DEP_DIRS:
            kind = suffix[1:].capitalize()
            target: list[str] = getattr(unit.config.unit, attr)
            for path in conf_files(dirs[suffix], suffix=None):
                entry = os.path.basename(path)
                problem = None
                if is_masked_path(path):
                    problem = f"{kind} dependency on {entry} is masked by {path}, ignoring."
                elif not os.path.islink(path):
                    problem = f"{kind} dependency dropin {path} is not a symlink, ignoring."
                elif not unitname.is_valid(entry):
                    problem = f"{kind} dependency dropin {path} is not a valid unit name, ignoring."
                dep = unitname.resolve_template(entry, unit.name) if problem is None else None
                if dep is None:
                    unit.diagnostics.append(Diagnostic(path, 0, problem or f"Cannot add {kind} dependency on {entry}"))
                elif dep not in target:
                    target.append(dep)

