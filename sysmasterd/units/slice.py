"""Slice units: nodes of the cgroup tree. Active while started; resource settings come later."""

from __future__ import annotations

from compat.model import UnitKind
from sysmasterd.core.dependency import Dep
from sysmasterd.core.unittype import Context, TypeDescriptor
from sysmasterd.units.passive import Passive
from sysmasterd.units.target import SHUTDOWN_TARGET

ROOT_SLICE = "-.slice"


class Slice(Passive):
    def add_default_dependencies(self) -> None:
        m = self.unit.manager
        m.add_dependency(self.unit, Dep.CONFLICTS, SHUTDOWN_TARGET)
        m.add_dependency(self.unit, Dep.BEFORE, SHUTDOWN_TARGET)
        parent = parent_slice(self.unit.id)
        if parent:
            m.add_dependency(self.unit, Dep.REQUIRES, parent)
            m.add_dependency(self.unit, Dep.AFTER, parent)


TYPE = TypeDescriptor(UnitKind.SLICE, Slice, "org.freedesktop.systemd1.Slice", Context.CGROUP)


def parent_slice(name: str) -> str | None:
    """foo-bar.slice lives in foo.slice; top-level slices in -.slice."""
    if name == ROOT_SLICE:
        return None
    stem = name.removesuffix(".slice")
    return stem.rsplit("-", 1)[0] + ".slice" if "-" in stem else ROOT_SLICE
