"""What the manager tells its observers (the D-Bus face, the state store, the log).

Observers are called synchronously from the event loop after the model changed; they must not
block. The manager never knows who listens: the D-Bus layer subscribes like anyone else.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from sysmasterd.core.job import Job
    from sysmasterd.core.unit import Unit


class ManagerObserver(Protocol):
    def unit_new(self, unit: Unit) -> None: ...

    def unit_removed(self, unit: Unit) -> None: ...

    def unit_changed(self, unit: Unit) -> None:
        """Any property of the unit may have changed (state, PIDs, timestamps, job)."""

    def job_new(self, job: Job) -> None: ...

    def job_changed(self, job: Job) -> None: ...

    def job_removed(self, job: Job) -> None:
        """Called exactly once per job, after job.result is set."""

    def startup_finished(self) -> None: ...

    def reloading(self, active: bool) -> None: ...

    def unit_files_changed(self) -> None: ...


class NullObserver:
    """Base for observers interested in a few events only."""

    def unit_new(self, unit: Unit) -> None:
        pass

    def unit_removed(self, unit: Unit) -> None:
        pass

    def unit_changed(self, unit: Unit) -> None:
        pass

    def job_new(self, job: Job) -> None:
        pass

    def job_changed(self, job: Job) -> None:
        pass

    def job_removed(self, job: Job) -> None:
        pass

    def startup_finished(self) -> None:
        pass

    def reloading(self, active: bool) -> None:
        pass

    def unit_files_changed(self) -> None:
        pass
