"""An in-process manager on a temp unit dir, with real processes and real cgroups.

Tests drive it the way a client would (jobs by unit name) and check what a user checks:
states, results, PIDs, files the services wrote.
"""

from __future__ import annotations

import asyncio
import os
import signal
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

from compat.model import JobMode, Scope
from sysmasterd.core.cgroup import CGroups, detect
from sysmasterd.core.events import NullObserver
from sysmasterd.core.job import Job
from sysmasterd.core.manager import Manager, ManagerSettings
from sysmasterd.core.notify import NotifySocket
from sysmasterd.core.states import JobResult, JobType
from sysmasterd.core.store import StateStore
from sysmasterd.core.unit import Unit

BASIC = "[Unit]\nDescription=Basic System\n"
# A oneshot that checks from inside which device nodes its DevicePolicy= lets it use.
DEVICE_CHECKS = """
    [Unit]
    DefaultDependencies=no
    [Service]
    Type=oneshot
    RemainAfterExit=yes
    DevicePolicy={policy}
    DeviceAllow=/dev/null rw
    ExecStart=/bin/sh -c '{script}'
"""


class JobLog(NullObserver):
    def __init__(self) -> None:
        self.removed: dict[int, JobResult] = {}
        self.order: list[tuple[str, str, JobResult]] = []

    def job_removed(self, job: Job) -> None:
        assert job.result is not None
        assert job.id not in self.removed, "JobRemoved twice for one job"
        self.removed[job.id] = job.result
        self.order.append((job.unit.id, job.type.value, job.result))


class Harness:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.units = tmp / "units"
        self.units.mkdir()
        self.runtime = tmp / "run"
        (self.units / "basic.target").write_text(BASIC)
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp), "XDG_RUNTIME_DIR": str(tmp)}
        self.settings = ManagerSettings(scope=Scope.USER, unit_path=[str(self.units)], runtime_dir=str(self.runtime),
                                        environ=env, default_timeout_stop_usec=5_000_000)
        self.m: Manager | None = None
        self.jobs = JobLog()

    def write(self, name: str, text: str) -> Path:
        p = self.units / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text).lstrip())
        return p

    def script(self, name: str, body: str) -> str:
        p = self.tmp / name
        p.write_text("#!/bin/sh\n" + textwrap.dedent(body).lstrip())
        p.chmod(0o755)
        return str(p)

    def boot(self) -> Manager:
        m = Manager(self.settings, self.loop)
        instance = "sysmaster-test-" + self.tmp.name[-20:]
        m.attach_runtime(CGroups(detect(instance)), StateStore(str(self.runtime / "state.db")),
                         NotifySocket(str(self.runtime / "notify")))
        m.add_observer(self.jobs)
        self.m = m
        return m

    @property
    def manager(self) -> Manager:
        if self.m is None:
            self.boot()
        assert self.m is not None
        return self.m

    def unit(self, name: str) -> Unit:
        return self.manager.load_unit(name)

    def enqueue(self, name: str, job_type: JobType = JobType.START, mode: JobMode = JobMode.REPLACE) -> Job:
        return self.manager.engine.add_job(name, job_type, mode)

    def run_job(self, name: str, job_type: JobType = JobType.START, mode: JobMode = JobMode.REPLACE,
                timeout: float = 10) -> JobResult:
        job = self.enqueue(name, job_type, mode)
        self.wait(lambda: job.id in self.jobs.removed, timeout, f"job {job.id} {name}/{job_type.value}")
        return self.jobs.removed[job.id]

    def start(self, name: str, timeout: float = 10) -> JobResult:
        return self.run_job(name, JobType.START, timeout=timeout)

    def stop(self, name: str, timeout: float = 10) -> JobResult:
        return self.run_job(name, JobType.STOP, timeout=timeout)

    def wait(self, pred: Callable[[], bool], timeout: float = 10, what: str = "condition") -> None:
        async def poll() -> None:
            deadline = time.monotonic() + timeout
            while not pred():
                if time.monotonic() > deadline:
                    raise AssertionError(f"timed out waiting for {what}")
                await asyncio.sleep(0.01)

        self.loop.run_until_complete(poll())

    def sleep(self, sec: float) -> None:
        self.loop.run_until_complete(asyncio.sleep(sec))

    def state(self, name: str) -> tuple[str, str]:
        u = self.unit(name)
        return u.active_state.value, u.sub_state

    def close(self) -> None:
        m = self.m
        if m is not None:
            done = asyncio.Event()
            m.begin_shutdown(done.set)
            try:
                self.loop.run_until_complete(asyncio.wait_for(done.wait(), 15))
            except TimeoutError:
                pass
            # Whatever survived: kill it by PID, from the cgroups we created.
            if m.cgroups is not None and m.cgroups.enabled:
                base = m.cgroups.root.mount + m.cgroups.root.base
                # Every cgroup below our base, not only those of units still loaded; a killed
                # process takes a moment to leave its cgroup, so retry until all are gone.
                for _ in range(50):
                    for path, _dirs, _files in sorted(os.walk(base), key=lambda w: -w[0].count("/")):
                        try:
                            with open(os.path.join(path, "cgroup.procs")) as f:
                                for pid in f.read().split():
                                    os.kill(int(pid), signal.SIGKILL)
                        except OSError:
                            pass
                        try:
                            os.rmdir(path)
                        except OSError:
                            pass
                    if not os.path.exists(base):
                        break
                    time.sleep(0.1)
                m.cgroups.remove_base()  # and the unit cgroups in the v1 controller hierarchies
            m.detach_runtime()
            if m.store is not None:
                m.store.close()
            if m.notify is not None:
                m.notify.close()
        self.loop.close()
        asyncio.set_event_loop(None)


def start_device_policy_units(h: Harness, prefix: str) -> None:
    """strict: nothing but the listed node (/dev/zero cannot even be read); closed: the static
    devices too (/dev/zero), but not /dev/kmsg. Each unit's own checks must pass."""
    h.write(f"{prefix}strict.service", DEVICE_CHECKS.format(
        policy="strict", script="echo x >/dev/null && ! head -c1 /dev/zero >/dev/null 2>&1"))
    assert h.start(f"{prefix}strict.service") is JobResult.DONE
    h.write(f"{prefix}closed.service", DEVICE_CHECKS.format(
        policy="closed", script="head -c1 /dev/zero >/dev/null && ! head -c1 /dev/kmsg 2>/dev/null"))
    assert h.start(f"{prefix}closed.service") is JobResult.DONE
