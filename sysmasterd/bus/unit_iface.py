"""org.freedesktop.systemd1.Unit over sysmasterd.core.unit.Unit."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from compat.model import UnitSection
from sysmasterd.bus import errors
from sysmasterd.bus.configmap import config_getter
from sysmasterd.bus.iface import Getter, Interface, method, neutral_value, prop
from sysmasterd.bus.maintenance_methods import clean_unit, freeze_unit
from sysmasterd.bus.unitfiles import unit_file_preset
from sysmasterd.core import clean, freezer
from sysmasterd.core.dependency import Dep
from sysmasterd.core.states import JobType, LoadState

if TYPE_CHECKING:
    from sysmasterd.bus.manager_iface import ManagerInterface
    from sysmasterd.bus.router import Call
    from sysmasterd.core.unit import Unit

_TIMESTAMPS = {
    "StateChange": "state_change",
    "InactiveExit": "inactive_exit",
    "ActiveEnter": "active_enter",
    "ActiveExit": "active_exit",
    "InactiveEnter": "inactive_enter",
    "Condition": "condition",
    "Assert": "assert",
}
_DEP_PROPS = {d.value: d for d in Dep}

_LOAD_ERRORS = {
    LoadState.NOT_FOUND: (errors.NO_SUCH_UNIT, "Unit {} not found."),
    LoadState.BAD_SETTING: (errors.BAD_UNIT_SETTING, "Unit {} has a bad unit file setting."),
    LoadState.ERROR: (errors.LOAD_FAILED, "Unit {} failed to load properly."),
    LoadState.MASKED: (errors.UNIT_MASKED, "Unit {} is masked."),
}


def _unit_section(u: Unit) -> UnitSection | None:
    return u.config.unit if u.config is not None else None


def condition_list(u: Unit, asserts: bool) -> list[list[Any]]:
    """a(sbbsi): type, trigger, negate, parameter, state (0 untested, >0 met, <0 failed)."""
    if u.config is None:
        return []
    outcomes = u.assert_outcomes if asserts else u.condition_outcomes
    tested = {id(o.condition): o for o in outcomes}
    out: list[list[Any]] = []
    for c in u.config.unit.conditions:
        if (c.kind.value == "Assert") != asserts:
            continue
        o = tested.get(id(c))
        state = 0 if o is None else (1 if o.result else -1)
        out.append([f"{c.kind.value}{c.name}", c.trigger, c.negate, c.parameter, state])
    return out


def _timestamp_getter(key: str, monotonic: bool) -> Getter:
    def get(u: Unit) -> int:
        ts = u.ts[key]
        return ts.monotonic if monotonic else ts.realtime

    return get


class UnitInterface(Interface):
    name = "org.freedesktop.systemd1.Unit"

    def __init__(self, manager_iface: ManagerInterface) -> None:
        self._mgr = manager_iface
        super().__init__()

    def fallback_getter(self, name: str, signature: str) -> Getter:
        if name in _DEP_PROPS:
            dep = _DEP_PROPS[name]
            return lambda u: sorted(u.deps.get(dep, ()))
        if name == "UnitFilePreset":
            return self.from_config(name, unit_file_preset)  # read once per load, as systemd caches it
        for stem, key in _TIMESTAMPS.items():
            if name in (f"{stem}Timestamp", f"{stem}TimestampMonotonic"):
                return _timestamp_getter(key, monotonic=name.endswith("Monotonic"))
        found = config_getter(name, signature, [(UnitSection, _unit_section)], neutral_value(name, signature))
        return self.from_config(name, found) if found else super().fallback_getter(name, signature)

    def config_key(self, target: Any) -> object | None:
        return target.config

    @prop("Id")
    def id(self, u: Unit) -> str:
        return u.id

    @prop("Names")
    def names(self, u: Unit) -> list[str]:
        return [u.id, *sorted(n for n in u.names if n != u.id)]

    @prop("Following")
    def following(self, u: Unit) -> str:
        other = u.impl.following() if u.impl is not None else None
        return other.id if other is not None else ""

    @prop("Markers")
    def markers(self, u: Unit) -> list[str]:
        return sorted(u.markers)

    @prop("Description")
    def description(self, u: Unit) -> str:
        return u.description

    @prop("LoadState")
    def load_state(self, u: Unit) -> str:
        return u.load_state.value

    @prop("ActiveState")
    def active_state(self, u: Unit) -> str:
        return u.active_state.value

    @prop("SubState")
    def sub_state(self, u: Unit) -> str:
        return u.sub_state

    @prop("FreezerState")
    def freezer_state(self, u: Unit) -> str:
        return freezer.state(u)

    @prop("CanFreeze")
    def can_freeze(self, u: Unit) -> bool:
        return freezer.supported(u)

    @prop("CanClean")
    def can_clean(self, u: Unit) -> list[str]:
        return clean.can_clean(u)

    @method("Freeze")
    async def freeze(self, call: Call, u: Unit) -> None:
        await freeze_unit(call, u, True)

    @method("Thaw")
    async def thaw(self, call: Call, u: Unit) -> None:
        await freeze_unit(call, u, False)

    @method("Clean")
    async def clean(self, call: Call, u: Unit, what: list[str]) -> None:
        await clean_unit(call, u, what)

    @prop("FragmentPath")
    def fragment_path(self, u: Unit) -> str:
        return u.fragment_path

    @prop("SourcePath")
    def source_path(self, u: Unit) -> str:
        return u.source_path

    @prop("DropInPaths")
    def dropin_paths(self, u: Unit) -> list[str]:
        return list(u.dropin_paths)

    @prop("UnitFileState")
    def unit_file_state(self, u: Unit) -> str:
        return u.unit_file_state

    @prop("CanStart")
    def can_start(self, u: Unit) -> bool:
        return u.load_state is LoadState.LOADED and not u.refuse_manual(JobType.START)

    @prop("CanStop")
    def can_stop(self, u: Unit) -> bool:
        return u.load_state is LoadState.LOADED and not u.refuse_manual(JobType.STOP)

    @prop("CanReload")
    def can_reload(self, u: Unit) -> bool:
        return u.can_reload()

    @prop("CanIsolate")
    def can_isolate(self, u: Unit) -> bool:
        return u.config is not None and u.config.unit.allow_isolate

    @prop("Job")
    def job(self, u: Unit) -> list[Any]:
        return [u.job.id, u.job.path] if u.job is not None else [0, "/"]

    @prop("OnSuccessJobMode")
    def on_success_job_mode(self, u: Unit) -> str:
        return "fail"

    @prop("ConditionResult")
    def condition_result(self, u: Unit) -> bool:
        return u.condition_result

    @prop("AssertResult")
    def assert_result(self, u: Unit) -> bool:
        return u.assert_result

    @prop("Conditions")
    def conditions(self, u: Unit) -> list[list[Any]]:
        return condition_list(u, asserts=False)

    @prop("Asserts")
    def asserts(self, u: Unit) -> list[list[Any]]:
        return condition_list(u, asserts=True)

    @prop("LoadError")
    def load_error(self, u: Unit) -> list[str]:
        entry = _LOAD_ERRORS.get(u.load_state)
        if entry is None:
            return ["", ""]
        return [entry[0], u.load_error or entry[1].format(u.id)]

    @prop("Transient")
    def transient(self, u: Unit) -> bool:
        return u.transient

    @prop("InvocationID")
    def invocation_id(self, u: Unit) -> bytes:
        return bytes(u.invocation_id)

    # --- methods: the per-unit forms of the Manager calls ----------------------------------

    @method("Start")
    async def start(self, call: Call, u: Unit, mode: str) -> str:
        return await self._mgr.enqueue(call, u.id, JobType.START, mode)

    @method("Stop")
    async def stop(self, call: Call, u: Unit, mode: str) -> str:
        return await self._mgr.enqueue(call, u.id, JobType.STOP, mode)

    @method("Reload")
    async def reload(self, call: Call, u: Unit, mode: str) -> str:
        return await self._mgr.enqueue(call, u.id, JobType.RELOAD, mode)

    @method("Restart")
    async def restart(self, call: Call, u: Unit, mode: str) -> str:
        return await self._mgr.enqueue(call, u.id, JobType.RESTART, mode)

    @method("TryRestart")
    async def try_restart(self, call: Call, u: Unit, mode: str) -> str:
        return await self._mgr.enqueue(call, u.id, JobType.TRY_RESTART, mode)

    @method("ReloadOrRestart")
    async def reload_or_restart(self, call: Call, u: Unit, mode: str) -> str:
        return await self._mgr.enqueue(call, u.id, self._mgr.reload_or(u, JobType.RESTART), mode)

    @method("ReloadOrTryRestart")
    async def reload_or_try_restart(self, call: Call, u: Unit, mode: str) -> str:
        return await self._mgr.enqueue(call, u.id, self._mgr.reload_or(u, JobType.TRY_RESTART), mode)

    @method("Kill")
    async def kill(self, call: Call, u: Unit, whom: str, signo: int) -> None:
        await self._mgr.kill(call, u.id, whom, signo)

    @method("ResetFailed")
    async def reset_failed(self, call: Call, u: Unit) -> None:
        await self._mgr.reset_failed_unit(call, u.id)

    @method("SetProperties")
    async def set_properties(self, call: Call, u: Unit, runtime: bool, props: list[Any]) -> None:
        await self._mgr.set_unit_properties(call, u.id, runtime, props)

    @method("Ref")
    def ref(self, call: Call, u: Unit) -> None:
        return None

    @method("Unref")
    def unref(self, call: Call, u: Unit) -> None:
        return None
