"""[Install] operations: enable, disable, reenable, link, mask, unmask, preset, revert, default target.

They create and remove the same symlinks as systemctl 252 (install.c) and report each change as
the D-Bus API does: ("symlink", link path, destination) or ("unlink", path, ""). Symlink
destinations are written as seen from inside the root directory, so a tree prepared with
`root_dir=` boots as-is; link paths in the reports are real paths, like `systemctl --root=` prints.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from compat import unitname
from compat.filestate import config_dirs
from compat.loader import UnitLoader
from compat.model import InstallSection, Scope, UnitKind
from compat.search_path import control_dir
from compat.unitmap import is_masked_path


@dataclass(frozen=True)
class Change:
    type: str  # "symlink" | "unlink"
    path: str
    source: str = ""

    def __str__(self) -> str:
        if self.type == "symlink":
            return f"Created symlink {self.path} \u2192 {self.source}."
        return f'Removed "{self.path}".'


class InstallError(Exception):
    """An operation refused, with systemctl's message. `kind` maps to a D-Bus error.

    Like systemd, an operation that fails on one symlink still makes its other changes; they
    are in `changes` (empty when the operation was refused before touching anything).
    """

    def __init__(self, message: str, kind: str = "failed", changes: list[Change] | None = None,
                 subject: str = "") -> None:
        super().__init__(message)
        self.kind = kind  # not-found | masked | exists | invalid | linked | failed
        self.changes = changes or []
        self.subject = subject  # the unit name or file the refusal is about, where there is one


@dataclass
class InstallResult:
    changes: list[Change] = field(default_factory=list)
    # False when a unit had nothing to install (EnableUnitFiles' carries_install_info).
    carries_install_info: bool = True
    warnings: list[str] = field(default_factory=list)
    errors: list[InstallError] = field(default_factory=list)

    def finish(self) -> InstallResult:
        """The result, or the first error (carrying the changes made anyway)."""
        if self.errors:
            first = self.errors[0]
            raise InstallError(str(first), first.kind, self.changes, first.subject)
        return self


NO_INSTALL_INFO = (
    "The unit files have no installation config (WantedBy=, RequiredBy=, Also=, Alias= settings in "
    "the [Install] section, and DefaultInstance= for template units). This means they are not meant "
    "to be enabled using systemctl."
)

PRESET_MODES = ("full", "enable-only", "disable-only")


@dataclass(frozen=True)
class PresetRule:
    action: str  # enable | disable | ignore
    pattern: str
    instances: tuple[str, ...] = ()


class Installer:
    def __init__(
        self,
        scope: Scope = Scope.SYSTEM,
        *,
        root_dir: str = "/",
        unit_path: Sequence[str] | str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.scope = scope
        self.root_dir = root_dir
        self.loader = UnitLoader(scope, unit_path, environ, root_dir=root_dir)
        self.paths = self.loader.paths

    # -----------------------------------------------------------------------------------------
    # Helpers

    def _config_dir(self, runtime: bool) -> str:
        if runtime:
            if self.paths.runtime_config is None:
                raise InstallError("Runtime directory is not available ($XDG_RUNTIME_DIR unset).", "invalid")
            return self.paths.runtime_config
        return self.paths.persistent_config

    def _unrooted(self, path: str) -> str:
        if self.root_dir == "/":
            return path
        rel = os.path.relpath(path, self.root_dir)
        return path if rel.startswith("..") else "/" + rel

    def _refresh(self) -> None:
        self.loader.rescan()

    def _discover(self, name: str, *, follow_config_aliases: bool = False) -> tuple[str, str]:
        """(unit name, destination file) for a name; destination is the real unit file.

        Refuses invalid, missing and masked units. An alias symlink in a config directory is
        refused too unless `follow_config_aliases` (systemd checks names with it, then applies
        without it); an alias shipped in a vendor directory stands for the unit it names.
        """
        fragment = self._fragment_of(name)
        umap = self.loader.map
        if is_masked_path(fragment):
            raise InstallError(f"Unit file {name} is masked.", "masked", subject=fragment)
        own = umap.entries.get(name)
        if own is not None and own.alias_of is not None:
            if own.directory in config_dirs(umap) and not follow_config_aliases:
                raise InstallError(f"Refusing to operate on linked unit file {name}.", "linked", subject=name)
            name = _real_name(fragment, name)  # a vendor alias stands for the unit it names
        entry = umap.entries.get(os.path.basename(fragment))
        destination = entry.linked_to if entry is not None and entry.linked_to else fragment
        return name, destination

    def _install_section(self, name: str) -> InstallSection:
        return self.loader.install_section(name) or InstallSection()

    def _create_symlink(self, destination: str, link: str, force: bool, result: InstallResult) -> None:
        os.makedirs(os.path.dirname(link), exist_ok=True)
        try:
            os.symlink(destination, link)
        except FileExistsError:
            if not os.path.islink(link):
                result.errors.append(InstallError(f"File {link} already exists.", "exists", subject=link))
                return
            current = os.readlink(link)
            if os.path.normpath(current) == os.path.normpath(destination):
                return
            if not force:
                message = f"File {link} already exists and is a symlink to {current}."
                result.errors.append(InstallError(message, "exists"))
                return
            os.unlink(link)
            os.symlink(destination, link)
            result.changes.append(Change("unlink", link))
        result.changes.append(Change("symlink", link, destination))

    # -----------------------------------------------------------------------------------------
    # enable / disable / reenable / link

    def enable(self, names: Iterable[str], *, runtime: bool = False, force: bool = False) -> InstallResult:
        result = InstallResult()
        config = self._config_dir(runtime)
        units = [self._link_if_path(name, config, force, result) for name in names]
        for name in units:
            self._discover(name, follow_config_aliases=True)  # refuse before changing anything
        seen: set[str] = set()
        any_info = False
        for name in units:
            try:
                any_info |= self._enable_one(name, config, force, result, seen)
            except InstallError as e:
                result.errors.append(e)  # like systemd, the units after this one are not processed
                break
        result.carries_install_info = any_info
        if not any_info:
            result.warnings.append(NO_INSTALL_INFO)
        self._refresh()
        return result.finish()

    def _link_if_path(self, name: str, config: str, force: bool, result: InstallResult) -> str:
        """`enable /path/to/foo.service` links the file first, like systemctl."""
        if "/" not in name:
            return name
        self._link_one(name, config, force, result)
        self._refresh()
        return os.path.basename(name)

    def _enable_one(
        self, name: str, config: str, force: bool, result: InstallResult, seen: set[str], also: bool = False
    ) -> bool:
        if name in seen:
            return False
        seen.add(name)
        try:
            name, destination = self._discover(name)
        except InstallError as e:
            if not also:
                raise  # e.g. an alias in /etc
            result.warnings.append(f"{e} Ignoring it in Also=.")  # systemd skips a bad Also= unit
            return False
        target = self._unrooted(destination)
        install = self._install_section(name)
        parsed = unitname.parse(name)
        assert parsed is not None
        has_info = bool(install.alias or install.wanted_by or install.required_by or install.also)
        instances = [name]
        if parsed.is_template:
            if install.default_instance:
                instances = [_instantiate(name, install.default_instance)]
            else:
                instances = []
                for dependent in [*install.wanted_by, *install.required_by]:
                    if not unitname.is_valid(dependent, plain=False, instance=False):
                        message = f"Failed to enable {name}, destination unit {dependent} is a non-template unit."
                        result.errors.append(InstallError(message, "invalid"))
                        return has_info
        for alias in install.alias:
            link_name = self._alias_name(alias, parsed, result)
            if link_name is not None:
                self._create_symlink(target, os.path.join(config, link_name), force, result)
        for instance in instances:
            for targets, suffix in ((install.wanted_by, ".wants"), (install.required_by, ".requires")):
                for dependent in targets:
                    dep = self._dependent_name(dependent, instance, result)
                    if dep is None:
                        continue
                    link = os.path.join(config, dep + suffix, instance)
                    self._create_symlink(target, link, force, result)
                    if self.loader.map.resolve(dep) is None:
                        result.warnings.append(
                            f"Unit {destination} is added as a dependency to a non-existent unit {dep}."
                        )
        for other in install.also:
            self._enable_one(other, config, force, result, seen, also=True)
        return has_info

    def _alias_name(self, alias: str, unit: unitname.UnitName, result: InstallResult) -> str | None:
        parsed = unitname.parse(alias)
        if parsed is None or parsed.kind is not unit.kind:
            result.warnings.append(f"Invalid unit name in Alias=: {alias}, ignoring.")
            return None
        if parsed.is_template and unit.is_instance:
            return _instantiate(alias, unit.instance or "")
        return alias

    def _dependent_name(self, dependent: str, instance: str, result: InstallResult) -> str | None:
        parsed = unitname.parse(dependent)
        if parsed is None:
            result.warnings.append(f"Invalid unit name in WantedBy=/RequiredBy=: {dependent}, ignoring.")
            return None
        if parsed.is_template:
            own = unitname.parse(instance)
            if own is None or not own.is_instance:
                return None
            return _instantiate(dependent, own.instance or "")
        return dependent

    def add_dependency(self, names: Iterable[str], target: str, dep: str, *, runtime: bool = False,
                       force: bool = False) -> InstallResult:
        """`systemctl add-wants/add-requires TARGET UNIT...`: <config>/TARGET.wants|.requires/UNIT
        linked to each unit's file (systemd's unit_file_add_dependency(); `dep` Wants or Requires)."""
        if not unitname.is_valid(target):
            raise InstallError(f"Unit name {target} is not valid.", "invalid")
        result = InstallResult()
        config = self._config_dir(runtime)
        target_name, _ = self._discover(target, follow_config_aliases=True)
        units = [self._discover(name, follow_config_aliases=True) for name in names]
        directory = os.path.join(config, target_name + (".wants" if dep == "Wants" else ".requires"))
        for name, destination in units:
            self._create_symlink(self._unrooted(destination), os.path.join(directory, name), force, result)
        self._refresh()
        return result.finish()

    def disable(self, names: Iterable[str], *, runtime: bool = False, dry_run: bool = False) -> InstallResult:
        """`dry_run`: only report the "unlink" changes (what GetUnitFileLinks answers with)."""
        result = InstallResult()
        config = self._config_dir(runtime)
        remove: set[str] = set()
        for name in names:
            try:
                self._collect_disable(os.path.basename(name), remove, set(), result)
            except InstallError as e:
                result.errors.append(e)  # systemd still disables the other units
        self._remove_marked(config, remove, result, dry_run)
        if not dry_run:
            self._refresh()
        return result.finish()

    def _fragment_of(self, name: str) -> str:
        """The unit file behind `name`; an invalid or unknown name is refused, as systemctl does."""
        if not unitname.is_valid(name):
            raise InstallError(f"Unit name {name} is not valid.", "invalid", subject=name)
        fragment, _ = self.loader.map.find_fragment(name)
        if fragment is None:
            raise InstallError(f"Unit file {name} does not exist.", "not-found", subject=name)
        return fragment

    def _collect_disable(self, name: str, remove: set[str], seen: set[str], result: InstallResult) -> None:
        """The names whose symlinks disabling `name` removes; refuses unknown units up front."""
        if name in seen:
            return
        seen.add(name)
        fragment = self._fragment_of(name)
        if is_masked_path(fragment):
            result.warnings.append(f"Unit {fragment} is masked, ignoring.")
            return
        # Symlinks go when their name is marked, their template's name is, or the file they
        # resolve to has a marked name; so aliases go, but not a mask of an alias name.
        real = _real_name(fragment, name)  # an alias name disables the unit it names, not itself
        remove.add(real)
        install = self._install_section(real)
        for also in install.also:
            self._collect_disable(also, remove, seen, result)

    def _remove_marked(self, directory: str, names: set[str], result: InstallResult, dry_run: bool = False) -> None:
        """Remove symlinks in `directory` and its subdirectories that name or point to `names`."""
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError:
            return
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                self._remove_marked(entry.path, names, result, dry_run)
                continue
            if not entry.is_symlink():
                continue
            parsed = unitname.parse(entry.name)
            template = parsed.template if parsed is not None and parsed.is_instance else None
            found = entry.name in names or template in names
            if not found:
                dest = os.path.realpath(self._rooted_link_target(entry.path))
                found = os.path.exists(dest) and os.path.basename(dest) in names
            if found:
                if not dry_run:
                    os.unlink(entry.path)
                result.changes.append(Change("unlink", entry.path))

    def _rooted_link_target(self, link: str) -> str:
        target = os.readlink(link)
        if os.path.isabs(target):
            return self.paths.in_root(target)
        return os.path.join(os.path.dirname(link), target)

    def reenable(self, names: Sequence[str], *, runtime: bool = False, force: bool = False) -> InstallResult:
        # As systemd 252: each name is first resolved to its unit file, then the names are
        # disabled and the *files* enabled. So an instance re-enables its template (with
        # DefaultInstance=) and an alias the unit it names.
        files = [self._file_of(n) for n in names]
        try:
            disabled = self.disable([os.path.basename(n) for n in names], runtime=runtime)
        except InstallError as e:
            disabled = InstallResult(changes=e.changes)
        try:
            enabled = self.enable(files, runtime=runtime, force=force)
        except InstallError as e:
            e.changes = disabled.changes + e.changes
            raise
        enabled.changes = disabled.changes + enabled.changes
        return enabled

    def _file_of(self, name: str) -> str:
        if "/" in name:
            return name
        fragment, _ = self.loader.map.find_fragment(name)
        if fragment is None:
            return name
        entry = self.loader.map.entries.get(os.path.basename(fragment))
        return self._unrooted(entry.linked_to if entry is not None and entry.linked_to else fragment)

    def link(self, paths: Iterable[str], *, runtime: bool = False, force: bool = False) -> InstallResult:
        result = InstallResult()
        config = self._config_dir(runtime)
        for path in paths:
            self._link_one(path, config, force, result)
        self._refresh()
        return result.finish()

    def _link_one(self, path: str, config: str, force: bool, result: InstallResult) -> None:
        if not os.path.isabs(path):
            raise InstallError(f"Path {path} is not absolute.", "invalid")
        name = os.path.basename(path)
        if not unitname.is_valid(name):
            raise InstallError(f"Unit name {name} is not valid.", "invalid")
        real = os.path.join(self.root_dir, path.lstrip("/")) if self.root_dir != "/" else path
        if not os.path.isfile(real):
            raise InstallError(f"Unit file {path} does not exist.", "not-found")
        if os.path.dirname(os.path.normpath(real)) in self.paths.search_path:
            return  # already in the search path: nothing to link
        self._create_symlink(path, os.path.join(config, name), force, result)

    # -----------------------------------------------------------------------------------------
    # mask / unmask

    def mask(self, names: Iterable[str], *, runtime: bool = False, force: bool = False) -> InstallResult:
        result = InstallResult()
        config = self._config_dir(runtime)
        for name in names:
            if not unitname.is_valid(name):
                raise InstallError(f"Unit name {name} is not valid.", "invalid")
            self._create_symlink("/dev/null", os.path.join(config, name), force, result)
        self._refresh()
        return result.finish()

    def unmask(self, names: Iterable[str], *, runtime: bool = False) -> InstallResult:
        result = InstallResult()
        config = self._config_dir(runtime)
        for name in names:
            if not unitname.is_valid(name):
                raise InstallError(f"Unit name {name} is not valid.", "invalid")
            path = os.path.join(config, name)
            if os.path.lexists(path) and is_masked_path(path):
                os.unlink(path)
                result.changes.append(Change("unlink", path))
        self._refresh()
        return result.finish()

    # -----------------------------------------------------------------------------------------
    # preset

    def preset_dirs(self) -> list[str]:
        kind = "system" if self.scope is Scope.SYSTEM else "user"
        dirs = [
            f"/etc/systemd/{kind}-preset",
            f"/run/systemd/{kind}-preset",
            f"/usr/local/lib/systemd/{kind}-preset",
            f"/usr/lib/systemd/{kind}-preset",
        ]
        if self.scope is Scope.SYSTEM:
            dirs.append("/lib/systemd/system-preset")
        return [self.paths.in_root(d) for d in dirs]

    def preset_rules(self) -> list[PresetRule]:
        """Rules of all *.preset files, merged by file name (first directory wins), in name order."""
        chosen: dict[str, str] = {}
        for directory in self.preset_dirs():
            try:
                names = os.listdir(directory)
            except OSError:
                continue
            for n in names:
                if n.endswith(".preset"):
                    chosen.setdefault(n, os.path.join(directory, n))
        rules: list[PresetRule] = []
        seen_files: set[str] = set()
        for n in sorted(chosen):
            real = os.path.realpath(chosen[n])
            if real in seen_files or is_masked_path(chosen[n]):
                continue
            seen_files.add(real)
            rules += parse_preset(_read_text(chosen[n]))
        return rules

    def preset_action(self, name: str, rules: Sequence[PresetRule]) -> tuple[str, tuple[str, ...]]:
        """What the presets say about `name`: (enable|disable|ignore, instances); default enable."""
        parsed = unitname.parse(name)
        for rule in rules:
            if fnmatch.fnmatchcase(name, rule.pattern):
                return rule.action, rule.instances
            if (
                parsed is not None
                and parsed.is_instance
                and parsed.instance in rule.instances
                and fnmatch.fnmatchcase(parsed.template, rule.pattern)
            ):
                return rule.action, ()
        return "enable", ()

    def unit_file_preset(self, name: str) -> str:
        """UnitFilePreset: "enabled", "disabled" or "ignored", as the preset files decide for `name`."""
        action, _ = self.preset_action(name, self.preset_rules())
        return {"enable": "enabled", "disable": "disabled"}.get(action, "ignored")

    def preset(
        self, names: Iterable[str], *, mode: str = "full", runtime: bool = False, force: bool = False
    ) -> InstallResult:
        if mode not in PRESET_MODES:
            raise InstallError(f"Invalid preset mode {mode}.", "invalid")
        rules = self.preset_rules()
        result = InstallResult()
        names = list(names)
        for name in names:
            fragment = self._fragment_of(name)
            if is_masked_path(fragment):
                raise InstallError(f"Unit {fragment} is masked.", "masked")
        for name in names:
            entry = self.loader.map.entries.get(name)
            if entry is not None and entry.alias_of is not None:
                continue  # presets apply to units, not to their alias names
            action, instances = self.preset_action(name, rules)
            parsed = unitname.parse(name)
            if (
                action == "enable"
                and parsed is not None
                and parsed.is_template
                and not instances
                and not self._install_section(name).default_instance
            ):
                continue  # no instance to enable: presets leave such templates alone
            try:
                if action == "enable" and mode != "disable-only":
                    templated = parsed is not None and parsed.is_template and instances
                    targets = [_instantiate(name, i) for i in instances] if templated else [name]
                    sub = self.enable(targets, runtime=runtime, force=force)
                    result.changes += sub.changes
                    result.warnings += [w for w in sub.warnings if w != NO_INSTALL_INFO]
                elif action == "disable" and mode != "enable-only":
                    result.changes += self.disable([name], runtime=runtime).changes
            except InstallError as e:
                result.changes += e.changes
                result.errors.append(e)
        return result.finish()

    def preset_all(self, *, mode: str = "full", runtime: bool = False, force: bool = False) -> InstallResult:
        names = []
        for name in self.loader.all_names():
            entry = self.loader.map.entries[name]
            if entry.alias_of is not None or is_masked_path(entry.path):
                continue
            install = self._install_section(name)
            if install.wanted_by or install.required_by or install.alias or install.also:
                names.append(name)
        return self.preset(names, mode=mode, runtime=runtime, force=force)

    # -----------------------------------------------------------------------------------------
    # revert

    def revert(self, names: Iterable[str]) -> InstallResult:
        result = InstallResult()
        configs = config_dirs(self.loader.map)
        vendor = [d for d in self.paths.search_path if d not in configs]
        # set-property's drop-ins go too (systemd's path_is_control()), where they are searched.
        controls = {control_dir(d) for d in (self.paths.persistent_config, self.paths.runtime_config) if d}
        dropin_dirs = configs + [d for d in self.paths.search_path if d in controls and d not in configs]
        for name in names:
            if not unitname.is_valid(name):
                raise InstallError(f"Unit name {name} is not valid.", "invalid")
            has_vendor = any(os.path.exists(os.path.join(d, name)) for d in vendor)
            for directory in dropin_dirs:
                dropin = os.path.join(directory, name + ".d")
                if os.path.isdir(dropin) and not os.path.islink(dropin):
                    for entry in sorted(os.listdir(dropin)):
                        result.changes.append(Change("unlink", os.path.join(dropin, entry)))
                    shutil.rmtree(dropin)
                    result.changes.append(Change("unlink", dropin))
            for directory in configs:
                path = os.path.join(directory, name)
                if os.path.lexists(path) and (has_vendor or is_masked_path(path)):
                    os.unlink(path)
                    result.changes.append(Change("unlink", path))
        self._refresh()
        return result.finish()

    # -----------------------------------------------------------------------------------------
    # default target

    def get_default(self) -> str:
        fragment = self.loader.map.resolve("default.target")
        if fragment is None:
            raise InstallError("No such file or directory", "not-found")
        return os.path.basename(fragment)

    def set_default(self, name: str) -> InstallResult:
        if unitname.kind_of(name) is not UnitKind.TARGET:
            raise InstallError(f"Unit {name} is not a target.", "invalid")
        _, destination = self._discover(name)
        result = InstallResult()
        link = os.path.join(self.paths.persistent_config, "default.target")
        self._create_symlink(self._unrooted(destination), link, True, result)
        self._refresh()
        return result.finish()

    def file_state(self, name: str) -> str:
        return self.loader.file_state(name)


def _real_name(fragment: str, name: str) -> str:
    """The unit a name stands for: its fragment's name, with the instance of `name` filled in."""
    real = os.path.basename(fragment)
    parsed = unitname.parse(name)
    if parsed is not None and parsed.is_instance and unitname.is_valid(real, plain=False, instance=False):
        return unitname.try_instantiate(real, parsed.instance or "") or name
    return real


def _instantiate(template: str, instance: str) -> str:
    try:
        return unitname.instantiate(template, instance)
    except ValueError as e:
        raise InstallError(str(e), "invalid") from None


def _read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def parse_preset(text: str) -> list[PresetRule]:
    """`enable PATTERN [INSTANCE...]`, `disable PATTERN`, `ignore PATTERN`; # and ; comments."""
    rules = []
    for line in text.splitlines():
        words = line.split()
        if not words or words[0][0] in "#;":
            continue
        action = words[0]
        if action not in ("enable", "disable", "ignore") or len(words) < 2:
            continue
        instances = tuple(words[2:]) if action == "enable" else ()
        rules.append(PresetRule(action, words[1], instances))
    return rules
