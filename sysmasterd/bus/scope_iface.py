"""org.freedesktop.systemd1.Scope over a unit whose type implementation is units.scope.Scope."""

from __future__ import annotations

from typing import TYPE_CHECKING

from compat.model import UnitKind
from sysmasterd.bus import actions, errors
from sysmasterd.bus.context_props import CGroupProperties, KillProperties
from sysmasterd.bus.defaults import UINT64_MAX
from sysmasterd.bus.iface import method, prop
from sysmasterd.core.states import ActiveState
from sysmasterd.units.scope import Scope

if TYPE_CHECKING:
    from sysmasterd.bus.router import Call
    from sysmasterd.core.unit import Unit


def _impl(u: Unit) -> Scope | None:
    return u.impl if isinstance(u.impl, Scope) else None


async def abandon(call: Call, u: Unit) -> None:
    """Abandon(), and the manager's AbandonScope(): the client lets go of a running scope."""
    impl = _impl(u)
    if impl is None or u.kind is not UnitKind.SCOPE:
        raise errors.invalid_args(f"Unit {u.id} is not a scope unit, refusing.")
    await call.authorize(actions.MANAGE_UNITS)
    if u.active_state is not ActiveState.ACTIVE or u.perpetual:
        raise errors.bus_error(errors.PREFIX + "ScopeNotRunning", f"Scope {u.id} is not running, cannot abandon.")
    impl.abandon()


class ScopeInterface(KillProperties, CGroupProperties):
    name = "org.freedesktop.systemd1.Scope"
    impl_type = Scope

    @prop("Controller")
    def controller(self, u: Unit) -> str:
        return ""

    @prop("Result")
    def result(self, u: Unit) -> str:
        impl = _impl(u)
        return impl.result() if impl is not None else "success"

    @prop("TimeoutStopUSec")
    def timeout_stop(self, u: Unit) -> int:
        impl = _impl(u)
        usec = impl.stop_timeout() if impl is not None else u.manager.settings.default_timeout_stop_usec
        return usec or UINT64_MAX

    @prop("OOMPolicy")
    def oom_policy(self, u: Unit) -> str:
        impl = _impl(u)
        return impl.oom_policy().value if impl is not None else u.manager.settings.default_oom_policy.value

    @method("Abandon")
    async def abandon(self, call: Call, u: Unit) -> None:
        await abandon(call, u)
