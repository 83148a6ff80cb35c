"""Target units: synchronization points that group other units."""

from __future__ import annotations

from sysmasterd.core.dependency import Dep
from sysmasterd.units.passive import Passive

SHUTDOWN_TARGET = "shutdown.target"


class Target(Passive):
    def add_default_dependencies(self) -> None:
        m = self.unit.manager
        m.add_dependency(self.unit, Dep.CONFLICTS, SHUTDOWN_TARGET)
        m.add_dependency(self.unit, Dep.BEFORE, SHUTDOWN_TARGET)
