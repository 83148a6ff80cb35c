"""The unit-file methods of org.freedesktop.systemd1.Manager, over compat.install.Installer.

Each call builds an Installer on the manager's search path, so files changed behind our back are
seen; results are reported as systemd does: (type, link, destination) triples.
"""

from __future__ import annotations

import fnmatch
import os
import weakref
from typing import TYPE_CHECKING, Any

from compat import unitname
from compat.install import Installer, InstallError, InstallResult
from sysmasterd.bus import actions, errors
from sysmasterd.bus.iface import method

if TYPE_CHECKING:
    from sysmasterd.bus.router import Call
    from sysmasterd.core.manager import Manager
    from sysmasterd.core.unit import Unit

_FLAG_RUNTIME = 1
_FLAG_FORCE = 2

_KIND_ERRORS = {
    "not-found": errors.NO_SUCH_UNIT,
    "masked": errors.UNIT_MASKED,
    "exists": errors.UNIT_EXISTS,
    "invalid": errors.INVALID_ARGS,
}


def installer(m: Manager) -> Installer:
    return Installer(m.scope, unit_path=m.settings.unit_path, environ=m.settings.environ)


# One Installer per manager for preset queries: they read only the preset files, never the scan.
_PRESET_READERS: weakref.WeakKeyDictionary[Manager, Installer] = weakref.WeakKeyDictionary()


def unit_file_preset(u: Unit) -> str:
    """UnitFilePreset as systemd 252 reports it: what the preset files say about the unit's file."""
    if not u.fragment_path:
        return ""
    reader = _PRESET_READERS.get(u.manager)
    if reader is None:
        reader = _PRESET_READERS[u.manager] = installer(u.manager)
    return reader.unit_file_preset(os.path.basename(u.fragment_path))


def unit_file_links(inst: Installer, name: str, runtime: bool) -> list[str]:
    """The symlinks `disable` would remove from the persistent (or runtime) config dir: what
    systemd 252 answers GetUnitFileLinks with (its dry-run disable's "unlink" changes)."""
    if not unitname.is_valid(os.path.basename(name)):
        raise InstallError(f"Unit name {name} is not valid.", "invalid")
    result = inst.disable([name], runtime=runtime, dry_run=True)
    return [c.path for c in result.changes if c.type == "unlink"]


def changes(result: InstallResult) -> list[list[str]]:
    return [[c.type, c.path, c.source] for c in result.changes]


def _install_call(fn: Any, *args: Any, **kwargs: Any) -> InstallResult:
    try:
        result: InstallResult = fn(*args, **kwargs)
    except InstallError as e:
        raise errors.bus_error(_KIND_ERRORS.get(e.kind, errors.FAILED), str(e)) from None
    except OSError as e:
        raise errors.bus_error(errors.FAILED, f"{e.filename}: {e.strerror}") from None
    return result


class UnitFileMethods:
    """Mixed into ManagerInterface: the @method declarations are collected from the whole class."""

    @method("ListUnitFiles")
    def list_unit_files(self, call: Call, m: Manager) -> list[list[str]]:
        return [[f.path, f.state] for f in installer(m).loader.list_unit_files()]

    @method("ListUnitFilesByPatterns")
    def list_unit_files_by_patterns(self, call: Call, m: Manager, states: list[str], patterns: list[str]
                                    ) -> list[list[str]]:
        return [[f.path, f.state] for f in installer(m).loader.list_unit_files()
                if (not states or f.state in states)
                and (not patterns or any(fnmatch.fnmatchcase(f.name, p) for p in patterns))]

    @method("GetUnitFileState")
    def get_unit_file_state(self, call: Call, m: Manager, name: str) -> str:
        state = installer(m).file_state(name)
        if not state:
            raise errors.bus_error(errors.NO_SUCH_UNIT, f"Unit file {name} does not exist.")
        return state

    @method("GetUnitFileLinks")
    def get_unit_file_links(self, call: Call, m: Manager, name: str, runtime: bool) -> list[str]:
        try:
            return unit_file_links(installer(m), name, runtime)
        except InstallError as e:
            raise errors.bus_error(_KIND_ERRORS.get(e.kind, errors.FAILED), str(e)) from None

    @method("EnableUnitFiles")
    async def enable(self, call: Call, m: Manager, names: list[str], runtime: bool, force: bool) -> list[Any]:
        await call.authorize(actions.MANAGE_UNIT_FILES)
        result = _install_call(installer(m).enable, names, runtime=runtime, force=force)
        return [result.carries_install_info, changes(result)]

    @method("EnableUnitFilesWithFlags")
    async def enable_with_flags(self, call: Call, m: Manager, names: list[str], flags: int) -> list[Any]:
        return await self.enable(call, m, names, bool(flags & _FLAG_RUNTIME), bool(flags & _FLAG_FORCE))

    @method("DisableUnitFiles")
    async def disable(self, call: Call, m: Manager, names: list[str], runtime: bool) -> list[list[str]]:
        await call.authorize(actions.MANAGE_UNIT_FILES)
        return changes(_install_call(installer(m).disable, names, runtime=runtime))

    @method("DisableUnitFilesWithFlags")
    async def disable_with_flags(self, call: Call, m: Manager, names: list[str], flags: int) -> list[list[str]]:
        return await self.disable(call, m, names, bool(flags & _FLAG_RUNTIME))

    @method("ReenableUnitFiles")
    async def reenable(self, call: Call, m: Manager, names: list[str], runtime: bool, force: bool) -> list[Any]:
        await call.authorize(actions.MANAGE_UNIT_FILES)
        result = _install_call(installer(m).reenable, names, runtime=runtime, force=force)
        return [result.carries_install_info, changes(result)]

    @method("LinkUnitFiles")
    async def link(self, call: Call, m: Manager, paths: list[str], runtime: bool, force: bool) -> list[list[str]]:
        await call.authorize(actions.MANAGE_UNIT_FILES)
        return changes(_install_call(installer(m).link, paths, runtime=runtime, force=force))

    @method("PresetUnitFiles")
    async def preset(self, call: Call, m: Manager, names: list[str], runtime: bool, force: bool) -> list[Any]:
        return await self.preset_with_mode(call, m, names, "full", runtime, force)

    @method("PresetUnitFilesWithMode")
    async def preset_with_mode(self, call: Call, m: Manager, names: list[str], mode: str, runtime: bool,
                               force: bool) -> list[Any]:
        await call.authorize(actions.MANAGE_UNIT_FILES)
        result = _install_call(installer(m).preset, names, mode=mode, runtime=runtime, force=force)
        return [result.carries_install_info, changes(result)]

    @method("PresetAllUnitFiles")
    async def preset_all(self, call: Call, m: Manager, mode: str, runtime: bool, force: bool) -> list[list[str]]:
        await call.authorize(actions.MANAGE_UNIT_FILES)
        return changes(_install_call(installer(m).preset_all, mode=mode, runtime=runtime, force=force))

    @method("AddDependencyUnitFiles")
    async def add_dependency(self, call: Call, m: Manager, names: list[str], target: str, dep: str,
                             runtime: bool, force: bool) -> list[list[str]]:
        if dep not in ("Wants", "Requires"):
            raise errors.invalid_args("Invalid argument")  # systemd's -EINVAL
        await call.authorize(actions.MANAGE_UNIT_FILES)
        return changes(_install_call(installer(m).add_dependency, names, target, dep, runtime=runtime, force=force))

    @method("MaskUnitFiles")
    async def mask(self, call: Call, m: Manager, names: list[str], runtime: bool, force: bool) -> list[list[str]]:
        await call.authorize(actions.MANAGE_UNIT_FILES)
        return changes(_install_call(installer(m).mask, names, runtime=runtime, force=force))

    @method("UnmaskUnitFiles")
    async def unmask(self, call: Call, m: Manager, names: list[str], runtime: bool) -> list[list[str]]:
        await call.authorize(actions.MANAGE_UNIT_FILES)
        return changes(_install_call(installer(m).unmask, names, runtime=runtime))

    @method("RevertUnitFiles")
    async def revert(self, call: Call, m: Manager, names: list[str]) -> list[list[str]]:
        await call.authorize(actions.MANAGE_UNIT_FILES)
        return changes(_install_call(installer(m).revert, names))

    @method("GetDefaultTarget")
    def get_default_target(self, call: Call, m: Manager) -> str:
        try:
            return installer(m).get_default()
        except InstallError as e:
            raise errors.bus_error(_KIND_ERRORS.get(e.kind, errors.FAILED), str(e)) from None

    @method("SetDefaultTarget")
    async def set_default_target(self, call: Call, m: Manager, name: str, force: bool) -> list[list[str]]:
        await call.authorize(actions.MANAGE_UNIT_FILES)
        return changes(_install_call(installer(m).set_default, name))
