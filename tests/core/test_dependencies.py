"""Dependencies and ordering: what the job engine pulls in, in which order, and what fails with what."""

from __future__ import annotations

import logging

import pytest
from core_harness import Harness

from compat.model import JobMode
from sysmasterd.core import errors
from sysmasterd.core.states import JobResult, JobType


def _oneshot(h: Harness, name: str, extra: str = "", cmd: str = "/bin/true", sleep: float = 0) -> None:
    body = f"/bin/sh -c 'sleep {sleep}; {cmd}'" if sleep else cmd
    h.write(name, f"[Unit]\n{extra}\n[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart={body}\n")


def test_after_orders_start_by_timestamps(h: Harness) -> None:
    _oneshot(h, "first.service", sleep=0.3)
    _oneshot(h, "second.service", "After=first.service")
    h.write("both.target", "[Unit]\nWants=first.service second.service\n")
    assert h.start("both.target") is JobResult.DONE
    first, second = h.unit("first.service"), h.unit("second.service")
    assert second.ts["inactive_exit"].monotonic >= first.ts["active_enter"].monotonic


def test_stop_runs_in_reverse_order(h: Harness) -> None:
    _oneshot(h, "a.service")
    _oneshot(h, "b.service", "After=a.service")
    h.write("ab.target", "[Unit]\nWants=a.service b.service\n")
    h.start("ab.target")
    h.jobs.order.clear()
    h.write("stopper.target", "[Unit]\nConflicts=a.service b.service\n")
    assert h.start("stopper.target") is JobResult.DONE
    stops = [u for (u, t, _r) in h.jobs.order if t == "stop"]
    assert stops.index("b.service") < stops.index("a.service")


def test_requires_failure_fails_dependent_with_dependency(h: Harness) -> None:
    _oneshot(h, "broken.service", cmd="/bin/false")
    _oneshot(h, "needs.service", "Requires=broken.service\nAfter=broken.service")
    assert h.start("needs.service") is JobResult.DEPENDENCY
    assert h.state("needs.service")[0] == "inactive"
    assert h.state("broken.service")[0] == "failed"


def test_wants_failure_does_not_fail_dependent(h: Harness) -> None:
    _oneshot(h, "broken.service", cmd="/bin/false")
    _oneshot(h, "wants.service", "Wants=broken.service\nAfter=broken.service")
    assert h.start("wants.service") is JobResult.DONE


def test_requires_missing_unit_is_refused(h: Harness) -> None:
    _oneshot(h, "x.service", "Requires=missing.service")
    with pytest.raises(errors.NoSuchUnit, match=r"Unit missing\.service not found\."):
        h.enqueue("x.service")


def test_requisite_needs_active_unit(h: Harness) -> None:
    _oneshot(h, "base.service")
    _oneshot(h, "req.service", "Requisite=base.service\nAfter=base.service")
    assert h.start("req.service") is JobResult.DEPENDENCY
    h.start("base.service")
    assert h.start("req.service") is JobResult.DONE


def test_conflicts_stops_the_other(h: Harness) -> None:
    h.write("one.service", "[Service]\nExecStart=/bin/sleep 1000\n")
    h.write("two.service", "[Unit]\nConflicts=one.service\n[Service]\nExecStart=/bin/sleep 1000\n")
    h.start("one.service")
    h.start("two.service")
    # Conflicts= implies no ordering: the stop of one may still be under way.
    h.wait(lambda: h.state("one.service")[0] == "inactive", 5, "conflicting unit to stop")
    assert h.state("two.service")[0] == "active"


def test_stopping_required_unit_stops_dependents(h: Harness) -> None:
    h.write("db.service", "[Service]\nExecStart=/bin/sleep 1000\n")
    h.write("app.service", "[Unit]\nRequires=db.service\nAfter=db.service\n[Service]\nExecStart=/bin/sleep 1000\n")
    h.start("app.service")
    assert h.state("db.service")[0] == "active"
    h.stop("db.service")
    assert h.state("app.service")[0] == "inactive"


def test_binds_to_stops_when_other_dies(h: Harness) -> None:
    h.write("dev.service", "[Service]\nExecStart=/bin/sleep 1000\n")
    h.write("bound.service", "[Unit]\nBindsTo=dev.service\nAfter=dev.service\n[Service]\nExecStart=/bin/sleep 1000\n")
    h.start("bound.service")
    import os
    import signal

    os.kill(h.unit("dev.service").impl.main_pid(), signal.SIGTERM)
    h.wait(lambda: h.state("bound.service")[0] == "inactive", 5, "bound unit to stop")


def test_part_of_propagates_stop_and_restart(h: Harness) -> None:
    h.write("main.service", "[Service]\nExecStart=/bin/sleep 1000\n")
    h.write("part.service", "[Unit]\nPartOf=main.service\n[Service]\nExecStart=/bin/sleep 1000\n")
    h.start("main.service")
    h.start("part.service")
    old = h.unit("part.service").impl.main_pid()
    assert h.run_job("main.service", JobType.RESTART) is JobResult.DONE
    h.wait(lambda: h.unit("part.service").impl.main_pid() not in (0, old), 5, "part restarted")
    h.stop("main.service")
    h.wait(lambda: h.state("part.service")[0] == "inactive", 5, "part to stop")


def test_ordering_cycle_is_broken_on_a_wants_edge(h: Harness, caplog: pytest.LogCaptureFixture) -> None:
    _oneshot(h, "c1.service", "Wants=c2.service\nAfter=c2.service")
    _oneshot(h, "c2.service", "After=c1.service")
    with caplog.at_level(logging.WARNING, logger="sysmasterd"):
        assert h.start("c1.service") is JobResult.DONE
    text = caplog.text
    assert "Found ordering cycle on" in text
    assert "Job c2.service/start deleted to break ordering cycle starting with" in text


def test_unbreakable_cycle_is_refused(h: Harness) -> None:
    _oneshot(h, "d1.service", "Requires=d2.service\nAfter=d2.service")
    _oneshot(h, "d2.service", "Requires=d1.service\nAfter=d1.service")
    with pytest.raises(errors.TransactionOrderIsCyclic):
        h.enqueue("d1.service")


def test_fail_mode_refuses_destructive_transaction(h: Harness) -> None:
    h.write("slowstop.service", "[Service]\nExecStart=/bin/sleep 1000\nExecStop=/bin/sleep 0.5\n")
    h.start("slowstop.service")
    h.enqueue("slowstop.service", JobType.STOP)
    with pytest.raises(errors.TransactionIsDestructive, match="is destructive"):
        h.enqueue("slowstop.service", JobType.START, JobMode.FAIL)


def test_refuse_manual_start(h: Harness) -> None:
    h.write("dep-only.service", "[Unit]\nRefuseManualStart=yes\n[Service]\nExecStart=/bin/sleep 1000\n")
    with pytest.raises(errors.OnlyByDependency, match="may be requested by dependency only"):
        h.enqueue("dep-only.service")


def test_isolate_stops_everything_else(h: Harness) -> None:
    h.write("other.service", "[Service]\nExecStart=/bin/sleep 1000\n")
    h.write("kept.service", "[Service]\nExecStart=/bin/sleep 1000\n")
    h.write("iso.target", "[Unit]\nAllowIsolate=yes\nWants=kept.service basic.target\n")
    h.write("noiso.target", "[Unit]\n")
    h.start("other.service")
    assert h.run_job("iso.target", JobType.START, JobMode.ISOLATE) is JobResult.DONE
    h.wait(lambda: h.state("other.service")[0] == "inactive", 5, "isolated-away unit to stop")
    assert h.state("kept.service")[0] == "active"
    with pytest.raises(errors.NoIsolation):
        h.enqueue("noiso.target", JobType.START, JobMode.ISOLATE)


def test_job_timeout(h: Harness) -> None:
    h.write("hang.service", "[Unit]\nJobTimeoutSec=0.3\n[Service]\nType=notify\nExecStart=/bin/sleep 1000\n")
    assert h.start("hang.service") is JobResult.TIMEOUT


def test_job_merging_returns_the_same_job(h: Harness) -> None:
    h.write("slow.service", "[Service]\nType=notify\nTimeoutStartSec=2\nExecStart=/bin/sleep 1000\n")
    j1 = h.enqueue("slow.service")
    j2 = h.enqueue("slow.service")
    assert j1 is j2
    h.manager.engine.cancel_job(j1.id)
    assert h.jobs.removed[j1.id] is JobResult.CANCELED


def test_stop_when_unneeded(h: Harness) -> None:
    h.write("helper.service", "[Unit]\nStopWhenUnneeded=yes\n[Service]\nExecStart=/bin/sleep 1000\n")
    h.write("user.service", "[Unit]\nWants=helper.service\n[Service]\nExecStart=/bin/sleep 1000\n")
    h.start("user.service")
    assert h.state("helper.service")[0] == "active"
    h.stop("user.service")
    h.wait(lambda: h.state("helper.service")[0] == "inactive", 5, "unneeded helper to stop")


def test_upholds_restarts_the_upheld_unit(h: Harness) -> None:
    h.write("kept.service", "[Service]\nExecStart=/bin/sleep 1000\n")
    h.write("keeper.service", "[Unit]\nUpholds=kept.service\n[Service]\nExecStart=/bin/sleep 1000\n")
    h.start("keeper.service")
    h.wait(lambda: h.state("kept.service")[0] == "active", 5, "upheld unit to start")
    import os
    import signal

    os.kill(h.unit("kept.service").impl.main_pid(), signal.SIGKILL)
    h.wait(lambda: h.state("kept.service")[0] == "failed" or h.unit("kept.service").job is not None
           or h.state("kept.service")[0] == "active", 5, "upheld unit to fail")
    h.wait(lambda: h.state("kept.service")[0] == "active", 5, "upheld unit to be started again")
