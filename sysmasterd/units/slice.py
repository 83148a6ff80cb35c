"""Slice units: nodes of the cgroup tree. Active while started; resource settings come later.

Every unit with a cgroup lives in a slice (Slice=, or the default systemd picks); the slice
names its place in the tree: foo-bar.slice is foo.slice/foo-bar.slice below -.slice, the root."""

from __future__ import annotations

from typing import TYPE_CHECKING

from compat import unitname
from compat.model import UnitKind
from sysmasterd.core.dependency import Dep
from sysmasterd.core.states import JobResult, JobType
from sysmasterd.core.unittype import Context, TypeDescriptor
from sysmasterd.units.passive import Passive
from sysmasterd.units.target import SHUTDOWN_TARGET

if TYPE_CHECKING:
    from sysmasterd.core.manager import Manager
    from sysmasterd.core.unit import Unit

ROOT_SLICE = "-.slice"
SYSTEM_SLICE = "system.slice"
APP_SLICE = "app.slice"


class Slice(Passive):
    def add_default_dependencies(self) -> None:
        m = self.unit.manager
        if self.unit.id in _perpetual(m):
            return  # systemd synthesizes these without default dependencies: nothing stops them
        m.add_dependency(self.unit, Dep.CONFLICTS, SHUTDOWN_TARGET)
        m.add_dependency(self.unit, Dep.BEFORE, SHUTDOWN_TARGET)

    def job_done_message(self, job_type: JobType, result: JobResult) -> str | None:
        # systemd's words for a slice coming and going.
        if result is JobResult.DONE:
            return {JobType.START: "Created slice {}.", JobType.STOP: "Removed slice {}."}.get(job_type)
        return None


def parent_slice(name: str) -> str | None:
    """foo-bar.slice lives in foo.slice; top-level slices in -.slice."""
    if name == ROOT_SLICE:
        return None
    stem = name.removesuffix(".slice")
    return stem.rsplit("-", 1)[0] + ".slice" if "-" in stem else ROOT_SLICE


def slice_path(name: str) -> str:
    """The cgroup path of a slice below the root: a-b.slice -> a.slice/a-b.slice, -.slice -> ""."""
    parts: list[str] = []
    current: str | None = name
    while current is not None and current != ROOT_SLICE:
        parts.append(current)
        current = parent_slice(current)
    return "/".join(reversed(parts))


def default_slice(u: Unit) -> str:
    """The slice systemd 252 puts a unit in when Slice= does not say (unit_set_default_slice):
    instances of a template share a slice named for it, other units go to system.slice (app.slice
    in a user manager); perpetual units stay in the root."""
    if u.perpetual:
        return ROOT_SLICE
    parsed = unitname.parse(u.id)
    if parsed is not None and parsed.instance is not None:
        return ("system-" if u.manager.is_system else "app-") + unitname.escape(parsed.prefix) + ".slice"
    return SYSTEM_SLICE if u.manager.is_system else APP_SLICE


def _perpetual(m: Manager) -> dict[str, str]:
    """-.slice always exists and is active; so does system.slice in the system manager."""
    return {ROOT_SLICE: "Root Slice", **({SYSTEM_SLICE: "System Slice"} if m.is_system else {})}


def make_perpetual_slices(m: Manager) -> None:
    for name, description in _perpetual(m).items():
        m.load_unit(name).make_perpetual(description)


TYPE = TypeDescriptor(UnitKind.SLICE, Slice, "org.freedesktop.systemd1.Slice", Context.CGROUP,
                      enumerate=make_perpetual_slices, ignored_on_isolate=True)
