"""Target units: synchronization points that group other units."""

from __future__ import annotations

from compat.model import UnitKind
from sysmasterd.core.dependency import Dep
from sysmasterd.core.unittype import TypeDescriptor
from sysmasterd.units.passive import Passive

SHUTDOWN_TARGET = "shutdown.target"


class Target(Passive):
    def add_default_dependencies(self) -> None:
        m = self.unit.manager
        m.add_dependency(self.unit, Dep.CONFLICTS, SHUTDOWN_TARGET)
        m.add_dependency(self.unit, Dep.BEFORE, SHUTDOWN_TARGET)


TYPE = TypeDescriptor(UnitKind.TARGET, Target, "org.freedesktop.systemd1.Target", orders_after_pulled_in=True)
