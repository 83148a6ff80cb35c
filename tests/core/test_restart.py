"""Restart= and the start rate limit, as systemd.service(5) and systemd.unit(5) describe them."""

from __future__ import annotations

import os
import signal

from core_harness import Harness

from sysmasterd.core.states import JobResult


def test_on_failure_restarts_until_start_limit(h: Harness) -> None:
    count = h.tmp / "count"
    h.write("crash.service", f"""
        [Unit]
        StartLimitIntervalSec=10
        StartLimitBurst=3
        [Service]
        Restart=on-failure
        RestartSec=50ms
        ExecStart=/bin/sh -c 'echo x >> {count}; exit 1'
    """)
    u = h.unit("crash.service")
    h.start("crash.service")
    # After the third start the limit stops the restarts; the result stays the failure's (as systemd).
    h.wait(lambda: len(u.start_limit_hits) == 3 and u.sub_state == "failed" and u.job is None, 20, "start limit")
    h.sleep(0.3)
    assert count.read_text().count("x") == 3
    assert h.state("crash.service") == ("failed", "failed")
    assert u.impl.result() == "exit-code"
    # reset-failed clears the limit, and the unit can start again.
    h.manager.reset_failed("crash.service")
    assert h.state("crash.service") == ("inactive", "dead")


def test_on_failure_does_not_restart_clean_exit(h: Harness) -> None:
    h.write("clean.service", """
        [Service]
        Restart=on-failure
        RestartSec=50ms
        ExecStart=/bin/sh -c 'exit 0'
    """)
    h.start("clean.service")
    h.wait(lambda: h.state("clean.service") == ("inactive", "dead"), 5, "dead")
    h.sleep(0.3)
    assert h.state("clean.service") == ("inactive", "dead")
    assert h.unit("clean.service").impl.n_restarts == 0


def test_always_restarts_a_killed_main_process_with_new_pid(h: Harness) -> None:
    h.write("always.service", """
        [Service]
        Restart=always
        RestartSec=100ms
        ExecStart=/bin/sleep 1000
    """)
    h.start("always.service")
    u = h.unit("always.service")
    first = u.impl.main_pid()
    os.kill(first, signal.SIGKILL)
    h.wait(lambda: u.impl.main_pid() not in (0, first) and u.active_state.value == "active", 5, "restart")
    assert u.impl.n_restarts == 1
    assert h.state("always.service") == ("active", "running")


def test_restart_prevent_and_force_exit_status(h: Harness) -> None:
    h.write("prevent.service", """
        [Service]
        Restart=always
        RestartSec=50ms
        RestartPreventExitStatus=42
        ExecStart=/bin/sh -c 'exit 42'
    """)
    h.write("force.service", """
        [Unit]
        StartLimitBurst=2
        [Service]
        Restart=no
        RestartSec=50ms
        RestartForceExitStatus=7
        ExecStart=/bin/sh -c 'exit 7'
    """)
    h.start("prevent.service")
    force = h.unit("force.service")
    h.start("force.service")
    h.wait(lambda: len(force.start_limit_hits) == 2 and force.sub_state == "failed" and force.job is None, 5,
           "forced restarts")
    assert h.state("prevent.service") == ("failed", "failed")
    assert h.unit("prevent.service").impl.n_restarts == 0


def test_success_exit_status_counts_as_success(h: Harness) -> None:
    h.write("ok.service", """
        [Service]
        Type=oneshot
        SuccessExitStatus=3 SIGUSR1
        ExecStart=/bin/sh -c 'exit 3'
    """)
    assert h.start("ok.service") is JobResult.DONE
    assert h.state("ok.service") == ("inactive", "dead")


def test_explicit_stop_does_not_restart(h: Harness) -> None:
    h.write("st.service", """
        [Service]
        Restart=always
        RestartSec=50ms
        ExecStart=/bin/sleep 1000
    """)
    h.start("st.service")
    assert h.stop("st.service") is JobResult.DONE
    h.sleep(0.3)
    assert h.state("st.service") == ("inactive", "dead")


def test_on_failure_unit_is_started(h: Harness) -> None:
    mark = h.tmp / "handled"
    h.write("handler.service", f"""
        [Service]
        Type=oneshot
        ExecStart=/bin/touch {mark}
    """)
    h.write("fails.service", """
        [Unit]
        OnFailure=handler.service
        [Service]
        Type=oneshot
        ExecStart=/bin/false
    """)
    assert h.start("fails.service") is JobResult.FAILED
    h.wait(mark.exists, 5, "OnFailure= handler")


def test_runtime_max_sec(h: Harness) -> None:
    h.write("rt.service", """
        [Service]
        RuntimeMaxSec=0.3
        ExecStart=/bin/sleep 1000
    """)
    h.start("rt.service")
    u = h.unit("rt.service")
    h.wait(lambda: u.active_state.value == "failed", 5, "runtime limit")
    assert u.impl.result() == "timeout"


def test_failure_and_start_limit_actions(h: Harness) -> None:
    asked: list[str] = []
    h.manager.on_exit_request = lambda: asked.append("exit")
    h.manager.on_poweroff_request = asked.append
    h.write("fa.service", "[Unit]\nFailureAction=exit\n[Service]\nType=oneshot\nExecStart=/bin/false\n")
    assert h.start("fa.service") is JobResult.FAILED
    assert asked == ["exit"]
    h.write("sa.service", "[Unit]\nSuccessAction=reboot-force\n[Service]\nType=oneshot\nExecStart=/bin/true\n")
    assert h.start("sa.service") is JobResult.DONE
    assert asked == ["exit", "reboot"]
    h.write("sl.service", "[Unit]\nStartLimitBurst=2\nStartLimitAction=poweroff\n"
                          "[Service]\nRestart=always\nRestartSec=50ms\nExecStart=/bin/false\n")
    h.start("sl.service")
    h.wait(lambda: "poweroff" in asked, 10, "StartLimitAction=")
    assert asked == ["exit", "reboot", "poweroff"]
