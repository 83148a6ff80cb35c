"""Scope units: processes the manager did not start, grouped in a cgroup. For now the one every
manager has, init.scope, which holds the manager itself (systemd puts PID 1 there); scopes made by
clients (StartTransientUnit) come with transient units."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from compat.model import UnitKind
from sysmasterd.core.cgroup import INIT_SCOPE
from sysmasterd.core.states import ActiveState
from sysmasterd.core.unittype import Context, OpResult, TypeDescriptor
from sysmasterd.units.passive import Passive

if TYPE_CHECKING:
    from sysmasterd.core.manager import Manager



class Scope(Passive):
    def active_state(self) -> ActiveState:
        return ActiveState.ACTIVE if self.active else ActiveState.INACTIVE

    def sub_state(self) -> str:
        return "running" if self.active else "dead"

    def start(self) -> OpResult:
        # Only perpetual scopes exist yet: a scope is started by the client that creates it.
        if not self.unit.perpetual:
            return OpResult.UNSUPPORTED
        return super().start()


def make_init_scope(m: Manager) -> None:
    """init.scope, in the root slice, holding the manager: when the manager owns its cgroup tree
    (it is the scope's real manager), init and the core move into it, as systemd's PID 1 does."""
    u = m.load_unit(INIT_SCOPE)
    u.make_perpetual("System and Service Manager")
    if m.cgroups is not None and m.cgroups.enabled and m.settings.owns_cgroup_root:
        procs = m.cgroups.create(INIT_SCOPE)
        for pid in {1, os.getpid()} if m.is_system else {os.getpid()}:
            try:
                with open(procs or "", "w") as f:
                    f.write(str(pid))
            except OSError as e:
                m.log.warning("Failed to move PID %d into %s: %s", pid, INIT_SCOPE, e.strerror)


TYPE = TypeDescriptor(UnitKind.SCOPE, Scope, None, Context.CGROUP | Context.KILL, enumerate=make_init_scope,
                      ignored_on_isolate=True)
