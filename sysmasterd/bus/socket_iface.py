"""org.freedesktop.systemd1.Socket over a unit whose type implementation is units.socket.Socket."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from compat.config_socket import SocketSection
from sysmasterd.bus.context_props import (
    CGroupProperties,
    ExecProperties,
    KillProperties,
    Sections,
)
from sysmasterd.bus.defaults import UINT64_MAX
from sysmasterd.bus.exec_rows import ControlProperties, configured_rows
from sysmasterd.bus.iface import Getter, prop
from sysmasterd.units.socket import EXEC_FIELDS, Socket

if TYPE_CHECKING:
    from sysmasterd.core.unit import Unit

UID_INVALID = (1 << 32) - 1


def _impl(u: Unit) -> Socket | None:
    return u.impl if isinstance(u.impl, Socket) else None


def _socket(u: Unit) -> SocketSection | None:
    return u.config.socket if u.config is not None else None


def _section(u: Unit) -> SocketSection:
    return _socket(u) or SocketSection()


class SocketInterface(ControlProperties, ExecProperties, KillProperties, CGroupProperties):
    name = "org.freedesktop.systemd1.Socket"
    impl_type = Socket
    own_sections: ClassVar[Sections] = ((SocketSection, _socket),)

    def fallback_getter(self, name: str, signature: str) -> Getter:
        if name in EXEC_FIELDS:
            return lambda u: configured_rows(_socket(u), _impl(u), name, extended=False)
        return super().fallback_getter(name, signature)

    @prop("BindIPv6Only")
    def bind_ipv6_only(self, u: Unit) -> str:
        return _section(u).bind_ipv6_only

    @prop("TimeoutUSec")
    def timeout(self, u: Unit) -> int:
        impl = _impl(u)
        usec = impl.timeout_usec() if impl is not None else u.manager.settings.default_timeout_start_usec
        return usec if usec else UINT64_MAX

    @prop("Listen")
    def listen(self, u: Unit) -> list[list[str]]:
        return [[p.kind, p.address()] for p in _section(u).ports]

    @prop("NConnections")
    def n_connections(self, u: Unit) -> int:
        impl = _impl(u)
        return impl.n_connections if impl is not None else 0

    @prop("NAccepted")
    def n_accepted(self, u: Unit) -> int:
        impl = _impl(u)
        return impl.n_accepted if impl is not None else 0

    @prop("NRefused")
    def n_refused(self, u: Unit) -> int:
        impl = _impl(u)
        return impl.n_refused if impl is not None else 0

    @prop("FileDescriptorName")
    def fd_name(self, u: Unit) -> str:
        return _section(u).file_descriptor_name or u.id

    @prop("TriggerLimitIntervalUSec")
    def trigger_limit_interval(self, u: Unit) -> int:
        return _section(u).trigger_limit()[0]

    @prop("TriggerLimitBurst")
    def trigger_limit_burst(self, u: Unit) -> int:
        return _section(u).trigger_limit()[1]

    @prop("UID")
    def uid(self, u: Unit) -> int:
        return UID_INVALID  # no DynamicUser=: systemd reports "not set"

    @prop("GID")
    def gid(self, u: Unit) -> int:
        return UID_INVALID
