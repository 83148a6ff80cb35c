"""org.freedesktop.systemd1.Service over a unit whose type implementation is units.service.Service."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from compat.model import ExitStatusSet, ServiceSection, ServiceType
from sysmasterd.bus.context_props import (
    CGroupProperties,
    ExecProperties,
    KillProperties,
    Sections,
)
from sysmasterd.bus.defaults import UINT64_MAX
from sysmasterd.bus.exec_rows import ControlProperties, configured_rows
from sysmasterd.bus.iface import Getter, prop
from sysmasterd.units.service import EXEC_KINDS, Service

if TYPE_CHECKING:
    from sysmasterd.core.unit import Unit

def _impl(u: Unit) -> Service | None:
    return u.impl if isinstance(u.impl, Service) else None


def _service(u: Unit) -> ServiceSection | None:
    return u.config.service if u.config is not None else None


def _exit_status_set(s: ExitStatusSet) -> list[list[int]]:
    return [sorted(s.statuses), sorted(s.signals)]


def _exec_rows(u: Unit, kind: str, extended: bool) -> list[list[Any]]:
    return configured_rows(_service(u), _impl(u), kind, extended)


class ServiceInterface(ControlProperties, ExecProperties, KillProperties, CGroupProperties):
    name = "org.freedesktop.systemd1.Service"
    impl_type = Service
    own_sections: ClassVar[Sections] = ((ServiceSection, _service),)

    def fallback_getter(self, name: str, signature: str) -> Getter:
        if name in EXEC_KINDS:
            return lambda u: _exec_rows(u, name, extended=False)
        if name.endswith("Ex") and name[:-2] in EXEC_KINDS:
            return lambda u: _exec_rows(u, name[:-2], extended=True)
        return super().fallback_getter(name, signature)

    @prop("TimeoutStartUSec")
    def timeout_start(self, u: Unit) -> int:
        return self._timeout(u, "start")

    @prop("TimeoutStopUSec")
    def timeout_stop(self, u: Unit) -> int:
        return self._timeout(u, "stop")

    @prop("TimeoutAbortUSec")
    def timeout_abort(self, u: Unit) -> int:
        return self._timeout(u, "abort")

    @prop("RestartUSec")
    def restart(self, u: Unit) -> int:
        impl = _impl(u)
        return impl.restart_usec() if impl is not None else u.manager.settings.default_restart_usec

    @staticmethod
    def _timeout(u: Unit, which: str) -> int:
        """What the service waits, with the manager's DefaultTimeout*Sec= filled in; no timeout
        (0 inside the core) is infinity on the bus, as systemd shows it."""
        impl = _impl(u)
        usec = impl.timeout_usec(which) if impl is not None else 0
        return usec if usec else UINT64_MAX

    @prop("Type")
    def type(self, u: Unit) -> str:
        impl = _impl(u)
        return impl.type.value if impl is not None else ServiceType.SIMPLE.value

    @prop("NotifyAccess")
    def notify_access(self, u: Unit) -> str:
        impl = _impl(u)
        return impl.notify_access.value if impl is not None else "none"

    @prop("OOMPolicy")
    def oom_policy(self, u: Unit) -> str:
        impl = _impl(u)
        return impl.oom_policy().value if impl is not None else u.manager.settings.default_oom_policy.value

    @prop("MainPID")
    def main_pid(self, u: Unit) -> int:
        impl = _impl(u)
        return impl.main_pid() if impl is not None else 0

    @prop("ReloadResult")
    def reload_result(self, u: Unit) -> str:
        impl = _impl(u)
        return impl.reload_result.value if impl is not None else "success"

    @prop("CleanResult")
    def clean_result(self, u: Unit) -> str:
        return "success"

    @prop("StatusText")
    def status_text(self, u: Unit) -> str:
        impl = _impl(u)
        return impl.status_text if impl is not None else ""

    @prop("StatusErrno")
    def status_errno(self, u: Unit) -> int:
        impl = _impl(u)
        return impl.status_errno if impl is not None else 0

    @prop("NFileDescriptorStore")
    def n_file_descriptor_store(self, u: Unit) -> int:
        impl = _impl(u)
        return len(impl.fd_store) if impl is not None else 0

    @prop("NRestarts")
    def n_restarts(self, u: Unit) -> int:
        impl = _impl(u)
        return impl.n_restarts if impl is not None else 0

    @prop("ExecMainPID")
    def exec_main_pid(self, u: Unit) -> int:
        impl = _impl(u)
        return impl.main_exec.pid if impl is not None else 0

    @prop("ExecMainCode")
    def exec_main_code(self, u: Unit) -> int:
        impl = _impl(u)
        return impl.main_exec.code if impl is not None else 0

    @prop("ExecMainStatus")
    def exec_main_status(self, u: Unit) -> int:
        impl = _impl(u)
        return impl.main_exec.status if impl is not None else 0

    @prop("ExecMainStartTimestamp")
    def exec_main_start(self, u: Unit) -> int:
        impl = _impl(u)
        return impl.main_exec.start.realtime if impl is not None else 0

    @prop("ExecMainStartTimestampMonotonic")
    def exec_main_start_mono(self, u: Unit) -> int:
        impl = _impl(u)
        return impl.main_exec.start.monotonic if impl is not None else 0

    @prop("ExecMainExitTimestamp")
    def exec_main_exit(self, u: Unit) -> int:
        impl = _impl(u)
        return impl.main_exec.exit.realtime if impl is not None else 0

    @prop("ExecMainExitTimestampMonotonic")
    def exec_main_exit_mono(self, u: Unit) -> int:
        impl = _impl(u)
        return impl.main_exec.exit.monotonic if impl is not None else 0

    @prop("RestartPreventExitStatus")
    def restart_prevent(self, u: Unit) -> list[list[int]]:
        s = _service(u)
        return _exit_status_set(s.restart_prevent_exit_status) if s is not None else [[], []]

    @prop("RestartForceExitStatus")
    def restart_force(self, u: Unit) -> list[list[int]]:
        s = _service(u)
        return _exit_status_set(s.restart_force_exit_status) if s is not None else [[], []]

    @prop("SuccessExitStatus")
    def success_status(self, u: Unit) -> list[list[int]]:
        s = _service(u)
        return _exit_status_set(s.success_exit_status) if s is not None else [[], []]
