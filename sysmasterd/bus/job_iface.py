"""org.freedesktop.systemd1.Job over sysmasterd.core.job.Job."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sysmasterd.bus.iface import Interface, method, prop
from sysmasterd.bus.listing import blocked_by, job_row, waiting_for
from sysmasterd.bus.paths import unit_path

if TYPE_CHECKING:
    from sysmasterd.bus.manager_iface import ManagerInterface
    from sysmasterd.bus.router import Call
    from sysmasterd.core.job import Job


class JobInterface(Interface):
    name = "org.freedesktop.systemd1.Job"

    def __init__(self, manager_iface: ManagerInterface) -> None:
        self._mgr = manager_iface
        super().__init__()

    @prop("Id")
    def id(self, job: Job) -> int:
        return job.id

    @prop("Unit")
    def unit(self, job: Job) -> list[str]:
        return [job.unit.id, unit_path(job.unit.id)]

    @prop("JobType")
    def job_type(self, job: Job) -> str:
        return job.type.value

    @prop("State")
    def state(self, job: Job) -> str:
        return job.state.value

    @method("Cancel")
    async def cancel(self, call: Call, job: Job) -> None:
        await self._mgr.cancel_job(call, self._mgr.manager, job.id)

    @method("GetAfter")
    def get_after(self, call: Call, job: Job) -> list[Any]:
        return [job_row(j) for j in waiting_for(job)]

    @method("GetBefore")
    def get_before(self, call: Call, job: Job) -> list[Any]:
        return [job_row(j) for j in blocked_by(job)]
