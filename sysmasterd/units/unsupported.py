"""The inert type: units whose file did not load, and unit types not implemented yet.

They exist (systemctl can ask about them) but cannot be started; saying so is better than
pretending to run a socket or mount unit.
"""

from __future__ import annotations

import functools

from compat.model import UnitKind
from sysmasterd.core.unittype import OpResult, TypeDescriptor
from sysmasterd.units.passive import Passive


class Unsupported(Passive):
    def start(self) -> OpResult:
        self.unit.manager.log.error("%s: unit type '%s' is not supported yet", self.unit.id,
                                    self.unit.kind.value)
        return OpResult.UNSUPPORTED


@functools.cache
def descriptor_for(kind: UnitKind) -> TypeDescriptor:
    return TypeDescriptor(kind, Unsupported, None)
