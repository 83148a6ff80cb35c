"""Services run as systemd runs them: types, results, exit codes users know from status."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

from core_harness import Harness

from sysmasterd.core.states import JobResult, JobType


def test_simple_service_runs_and_stops(h: Harness) -> None:
    h.write("sleeper.service", """
        [Unit]
        Description=Sleeper
        [Service]
        ExecStart=/bin/sleep 1000
    """)
    assert h.start("sleeper.service") is JobResult.DONE
    u = h.unit("sleeper.service")
    assert h.state("sleeper.service") == ("active", "running")
    pid = u.impl.main_pid()
    assert pid > 0 and os.path.exists(f"/proc/{pid}")
    # Type=simple is active right after fork, as in systemd; exec follows.
    h.wait(lambda: Path(f"/proc/{pid}/comm").read_text().strip() == "sleep", 5, "exec of sleep")
    assert h.stop("sleeper.service") is JobResult.DONE
    assert h.state("sleeper.service") == ("inactive", "dead")
    h.wait(lambda: not os.path.exists(f"/proc/{pid}"), 5, "sleep to be gone")


def test_oneshot_remain_after_exit(h: Harness) -> None:
    out = h.tmp / "ran"
    h.write("once.service", f"""
        [Service]
        Type=oneshot
        RemainAfterExit=yes
        ExecStart=/bin/sh -c 'echo first >> {out}'
        ExecStart=/bin/sh -c 'echo second >> {out}'
    """)
    assert h.start("once.service") is JobResult.DONE
    assert h.state("once.service") == ("active", "exited")
    assert out.read_text().split() == ["first", "second"]


def test_oneshot_without_remain_goes_inactive(h: Harness) -> None:
    h.write("once.service", """
        [Service]
        Type=oneshot
        ExecStart=/bin/true
    """)
    assert h.start("once.service") is JobResult.DONE
    assert h.state("once.service") == ("inactive", "dead")


def test_failing_main_process_fails_the_job(h: Harness) -> None:
    h.write("bad.service", """
        [Service]
        Type=oneshot
        ExecStart=/bin/sh -c 'exit 3'
    """)
    assert h.start("bad.service") is JobResult.FAILED
    u = h.unit("bad.service")
    assert h.state("bad.service") == ("failed", "failed")
    assert u.impl.result() == "exit-code"
    assert (u.impl.main_exec.code, u.impl.main_exec.status) == (1, 3)


def test_missing_binary_is_203_exec(h: Harness) -> None:
    h.write("nobin.service", """
        [Service]
        ExecStart=/nonexistent/binary
    """)
    h.start("nobin.service")
    u = h.unit("nobin.service")
    h.wait(lambda: u.active_state.value == "failed", 5, "failed state")
    assert u.impl.main_exec.status == 203
    assert any("Failed to execute /nonexistent/binary" in line for line in u.log_lines)


def test_unknown_user_is_217_user(h: Harness) -> None:
    h.write("nouser.service", """
        [Service]
        Type=oneshot
        User=no-such-user-xyz
        ExecStart=/bin/true
    """)
    assert h.start("nouser.service") is JobResult.FAILED
    assert h.unit("nouser.service").impl.main_exec.status == 217


def test_bad_working_directory_is_200_chdir_unless_dash(h: Harness) -> None:
    h.write("cd.service", """
        [Service]
        Type=oneshot
        WorkingDirectory=/nonexistent-dir
        ExecStart=/bin/true
    """)
    assert h.start("cd.service") is JobResult.FAILED
    assert h.unit("cd.service").impl.main_exec.status == 200
    h.write("cd2.service", """
        [Service]
        Type=oneshot
        WorkingDirectory=-/nonexistent-dir
        ExecStart=/bin/true
    """)
    assert h.start("cd2.service") is JobResult.DONE


def test_exec_context_is_applied(h: Harness) -> None:
    # pytest's tmp dirs are private to root; the unprivileged service writes here instead.
    shared = Path(tempfile.mkdtemp(prefix="sysmaster-ctx-"))
    shared.chmod(0o777)
    out = shared / "ctx"
    env_file = h.tmp / "envfile"
    env_file.write_text("# comment\nFROM_FILE=yes\nQUOTED=\"a b\"\n")
    h.write("ctx.service", f"""
        [Service]
        Type=oneshot
        User=nobody
        Group=nogroup
        UMask=0027
        WorkingDirectory=/tmp
        Environment=ONE=1 "TWO=two words"
        EnvironmentFile={env_file}
        EnvironmentFile=-/nonexistent/env
        LimitNOFILE=1234:2345
        Nice=5
        ExecStart=/bin/sh -c 'echo "$(id -un) $(id -gn) $(umask) $(pwd) $ONE [$TWO] $FROM_FILE [$QUOTED] \\
                              $(ulimit -n) $(ulimit -Hn) $(nice)" > {out}'
    """)
    assert h.start("ctx.service") is JobResult.DONE, list(h.unit("ctx.service").log_lines)
    # The continuation line's indentation is part of the quoted word, as in systemd: compare words.
    words = ["nobody", "nogroup", "0027", "/tmp", "1", "[two", "words]", "yes", "[a", "b]", "1234", "2345", "5"]
    assert out.read_text().split() == words
    assert oct(out.stat().st_mode & 0o777) == oct(0o640)
    shutil.rmtree(shared)


def test_exec_start_pre_failure_and_dash_prefix(h: Harness) -> None:
    mark = h.tmp / "mark"
    h.write("pre.service", f"""
        [Service]
        ExecStartPre=-/bin/false
        ExecStartPre=/bin/touch {mark}
        ExecStart=/bin/sleep 1000
    """)
    assert h.start("pre.service") is JobResult.DONE
    assert mark.exists()
    h.write("pre2.service", """
        [Service]
        ExecStartPre=/bin/false
        ExecStart=/bin/sleep 1000
    """)
    assert h.start("pre2.service") is JobResult.FAILED
    assert h.unit("pre2.service").impl.result() == "exit-code"


def test_exec_stop_sees_service_result(h: Harness) -> None:
    out = h.tmp / "stopinfo"
    h.write("st.service", f"""
        [Service]
        ExecStart=/bin/sleep 1000
        ExecStop=/bin/sh -c 'echo "$SERVICE_RESULT $MAINPID" > {out}'
        ExecStopPost=/bin/sh -c 'echo "post $SERVICE_RESULT" >> {out}'
    """)
    h.start("st.service")
    pid = h.unit("st.service").impl.main_pid()
    assert h.stop("st.service") is JobResult.DONE
    assert out.read_text().split("\n")[:2] == [f"success {pid}", "post success"]


def test_variable_expansion_in_exec(h: Harness) -> None:
    out = h.tmp / "args"
    h.write("exp.service", f"""
        [Service]
        Type=oneshot
        Environment="WORDS=a b c" ONE=x
        ExecStart=/bin/sh -c 'echo "$#" > {out}' sh $WORDS ${{WORDS}} ${{ONE}}y
    """)
    assert h.start("exp.service") is JobResult.DONE
    assert out.read_text().strip() == "5"


def test_standard_output_to_file_and_journal_capture(h: Harness) -> None:
    out = h.tmp / "out.log"
    h.write("o.service", f"""
        [Service]
        Type=oneshot
        StandardOutput=file:{out}
        ExecStart=/bin/echo to-file
    """)
    h.write("j.service", """
        [Service]
        Type=oneshot
        ExecStart=/bin/sh -c 'echo to-journal; echo err-line >&2'
    """)
    assert h.start("o.service") is JobResult.DONE
    assert out.read_text() == "to-file\n"
    # Taken before the start: an inactive oneshot is unloaded afterwards, as in systemd.
    u = h.unit("j.service")
    assert h.start("j.service") is JobResult.DONE
    h.wait(lambda: sum("to-journal" in x or "err-line" in x for x in u.log_lines) == 2, 5, "captured output")


def test_forking_service_with_pidfile(h: Harness) -> None:
    pidfile = h.tmp / "d.pid"
    daemon = h.script("daemon.sh", f"""
        sleep 1000 &
        echo $! > {pidfile}
    """)
    h.write("fork.service", f"""
        [Service]
        Type=forking
        PIDFile={pidfile}
        ExecStart={daemon}
    """)
    assert h.start("fork.service") is JobResult.DONE
    u = h.unit("fork.service")
    assert h.state("fork.service") == ("active", "running")
    assert u.impl.main_pid() == int(pidfile.read_text())
    assert h.stop("fork.service") is JobResult.DONE


def test_exec_type_waits_for_exec(h: Harness) -> None:
    h.write("e.service", """
        [Service]
        Type=exec
        ExecStart=/bin/sleep 1000
    """)
    assert h.start("e.service") is JobResult.DONE
    assert h.state("e.service") == ("active", "running")
    h.write("e2.service", """
        [Service]
        Type=exec
        ExecStart=/no/such/thing
    """)
    assert h.start("e2.service") is JobResult.FAILED


def test_condition_failure_skips_without_failing(h: Harness) -> None:
    h.write("c.service", """
        [Unit]
        ConditionPathExists=/nonexistent/path
        [Service]
        ExecStart=/bin/sleep 1000
    """)
    assert h.start("c.service") is JobResult.DONE
    u = h.unit("c.service")
    assert h.state("c.service") == ("inactive", "dead")
    assert u.condition_result is False
    h.write("a.service", """
        [Unit]
        AssertPathExists=/nonexistent/path
        [Service]
        ExecStart=/bin/sleep 1000
    """)
    assert h.start("a.service") is JobResult.ASSERT


def test_exec_condition(h: Harness) -> None:
    h.write("ec.service", """
        [Service]
        ExecCondition=/bin/sh -c 'exit 1'
        ExecStart=/bin/sleep 1000
    """)
    assert h.start("ec.service") is JobResult.DONE
    assert h.state("ec.service") == ("inactive", "dead")


def test_reload(h: Harness) -> None:
    out = h.tmp / "reloaded"
    h.write("r.service", f"""
        [Service]
        ExecStart=/bin/sleep 1000
        ExecReload=/bin/touch {out}
    """)
    h.start("r.service")
    assert h.run_job("r.service", JobType.RELOAD) is JobResult.DONE
    assert out.exists()
    h.write("nr.service", """
        [Service]
        ExecStart=/bin/sleep 1000
    """)
    h.start("nr.service")
    try:
        h.run_job("nr.service", JobType.RELOAD)
        raise AssertionError("reload of a unit without ExecReload must be refused")
    except Exception as e:
        assert "reload is not applicable" in str(e)


def test_restart_job_gives_new_pid(h: Harness) -> None:
    h.write("rs.service", """
        [Service]
        ExecStart=/bin/sleep 1000
    """)
    h.start("rs.service")
    old = h.unit("rs.service").impl.main_pid()
    assert h.run_job("rs.service", JobType.RESTART) is JobResult.DONE
    new = h.unit("rs.service").impl.main_pid()
    assert new and new != old
    assert h.state("rs.service") == ("active", "running")


def test_start_timeout(h: Harness) -> None:
    h.write("slow.service", """
        [Service]
        Type=notify
        TimeoutStartSec=0.5
        ExecStart=/bin/sleep 1000
    """)
    t0 = time.monotonic()
    assert h.start("slow.service") is JobResult.FAILED
    assert time.monotonic() - t0 < 5
    assert h.unit("slow.service").impl.result() == "timeout"


def test_idle_service_waits_for_the_other_jobs(h: Harness) -> None:
    """Type=idle: forked and active at once, but its command runs only when no job is left."""
    done, seen = h.tmp / "slow-done", h.tmp / "idle-saw"
    h.write("slow.service", f"""
        [Service]
        Type=oneshot
        ExecStart=/bin/sh -c 'sleep 1; touch {done}'
    """)
    h.write("quiet.service", f"""
        [Service]
        Type=idle
        ExecStart=/bin/sh -c 'test -e {done} && echo after > {seen} || echo before > {seen}; exec sleep 1000'
    """)
    h.write("both.target", "[Unit]\nWants=slow.service quiet.service\n")
    job = h.enqueue("both.target")
    h.wait(lambda: h.state("quiet.service") == ("active", "running"), 5, "quiet.service to be running")
    assert h.unit("quiet.service").impl.main_pid() > 0
    assert not seen.exists(), "the idle command ran while slow.service was still starting"
    h.wait(lambda: job.id in h.jobs.removed, 10, "both.target")
    h.wait(seen.exists, 5, "the idle command")
    assert seen.read_text().strip() == "after"


def test_idle_service_runs_anyway_after_five_seconds(h: Harness) -> None:
    seen = h.tmp / "idle-ran"
    h.write("stuck.service", """
        [Service]
        Type=oneshot
        TimeoutStartSec=60
        ExecStart=/bin/sleep 30
    """)
    h.write("quiet.service", f"""
        [Service]
        Type=idle
        ExecStart=/bin/sh -c 'touch {seen}; exec sleep 1000'
    """)
    h.write("both.target", "[Unit]\nWants=stuck.service quiet.service\n")
    t0 = time.monotonic()
    h.enqueue("both.target")
    h.wait(seen.exists, 10, "the idle command")
    took = time.monotonic() - t0
    assert 4.5 <= took <= 7, took
    assert h.state("stuck.service") == ("activating", "start")


def test_idle_service_alone_runs_at_once(h: Harness) -> None:
    seen = h.tmp / "idle-ran"
    h.write("quiet.service", f"""
        [Service]
        Type=idle
        ExecStart=/bin/sh -c 'touch {seen}; exec sleep 1000'
    """)
    t0 = time.monotonic()
    assert h.start("quiet.service") is JobResult.DONE
    h.wait(seen.exists, 5, "the idle command")
    assert time.monotonic() - t0 < 2
