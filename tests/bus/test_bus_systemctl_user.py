"""The real systemctl (Debian's systemd 252) drives sysmasterd --user: output and exit codes as
systemd gives them. One manager per module keeps the suite fast; tests use distinct units."""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from bus_harness import Manager, make_manager, wait_for

UNITS = {
    "sleepy.service": "[Unit]\nDescription=Sleepy test\n[Service]\nExecStart=/bin/sleep 1000\n",
    "fail.service": "[Unit]\nDescription=Failing\n[Service]\nType=oneshot\nExecStart=/bin/false\n",
    "quiet.service": "[Unit]\nDescription=Never started\n[Service]\nExecStart=/bin/sleep 1000\n",
    "reloadable.service": (
        "[Unit]\nDescription=Reloadable\n[Service]\nExecStart=/bin/sleep 1000\n"
        "ExecReload=/bin/sh -c 'echo reloaded >> %h/reloads'\n"
    ),
    "slow.service": "[Unit]\nDescription=Slow start\n[Service]\nType=oneshot\nExecStart=/bin/sleep 3\n",
    "after-slow.service": (
        "[Unit]\nDescription=Waits for slow\nAfter=slow.service\n[Service]\nType=oneshot\nExecStart=/bin/true\n"
    ),
    "trap.service": (
        "[Unit]\nDescription=Signal catcher\n[Service]\n"
        "ExecStart=/bin/sh -c 'trap \"touch %h/got-usr1\" USR1; while :; do sleep 0.1; done'\n"
    ),
    "notify.service": (
        "[Unit]\nDescription=Notifies readiness\n[Service]\nType=notify\nNotifyAccess=all\n"
        "ExecStart=/bin/sh -c 'sleep 0.3; systemd-notify --ready --status=Serving; exec sleep 1000'\n"
    ),
    "dropin.service": "[Unit]\nDescription=With drop-in\n[Service]\nExecStart=/bin/sleep 1000\n",
    "dropin.service.d/override.conf": "[Unit]\nDescription=Overridden by drop-in\n",
    "isolated.target": "[Unit]\nDescription=Isolation target\nAllowIsolate=yes\n",
    "wanted.service": "[Unit]\nDescription=Wanted\n[Service]\nExecStart=/bin/sleep 1000\n",
    # The busy loop runs in a child that exits: only the cgroup remembers its CPU time.
    "burner.service": (
        "[Unit]\nDescription=Burns CPU in a child\n[Service]\nType=notify\nNotifyAccess=all\n"
        "ExecStart=/bin/sh -c '(i=0; while [ $$i -lt 300000 ]; do i=$$((i+1)); done); "
        "systemd-notify --ready; exec sleep 1000'\n"
    ),
    # After= keeps quiet.service loaded (referenced) though it never runs, so list-units --all shows it.
    "wanting.target": "[Unit]\nDescription=Wanting\nWants=wanted.service\nAfter=quiet.service\n",
}


@pytest.fixture(scope="module")
def um(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Manager]:
    yield from make_manager(tmp_path_factory.mktemp("user"), "user", UNITS)


def main_pid(um: Manager, unit: str) -> int:
    return int(um.systemctl("show", "-p", "MainPID", "--value", unit).out.strip())


def test_start_status_stop(um: Manager) -> None:
    assert um.systemctl("start", "sleepy.service").rc == 0
    assert um.systemctl("is-active", "sleepy.service").out == "active\n"
    pid = main_pid(um, "sleepy.service")
    assert pid > 0
    wait_for(lambda: Path(f"/proc/{pid}/comm").exists() is False or "sleep" in um.systemctl(
        "status", "sleepy.service").out, "exec")
    status = um.systemctl("status", "sleepy.service")
    assert status.rc == 0
    lines = status.out.splitlines()
    assert lines[0] == "● sleepy.service - Sleepy test"
    assert re.search(r"Loaded: loaded \(.*/sleepy\.service; static\)", status.out)
    assert re.search(r"Active: active \(running\) since .*; .* ago", status.out)
    assert f"Main PID: {pid}" in status.out
    by_pid = um.systemctl("status", str(pid))  # GetUnitByPID
    assert by_pid.rc == 0 and by_pid.out.startswith("● sleepy.service")
    stop = um.systemctl("stop", "sleepy.service")
    assert stop.rc == 0, stop.err
    assert um.systemctl("is-active", "sleepy.service").out == "inactive\n"
    assert um.systemctl("status", "sleepy.service").rc == 3


def test_restart_changes_main_pid(um: Manager) -> None:
    assert um.systemctl("start", "sleepy.service").rc == 0
    before = main_pid(um, "sleepy.service")
    assert um.systemctl("restart", "sleepy.service").rc == 0
    after = main_pid(um, "sleepy.service")
    assert after and after != before
    assert um.systemctl("stop", "sleepy.service").rc == 0


def test_failing_unit(um: Manager) -> None:
    r = um.systemctl("start", "fail.service")
    assert r.rc == 1
    assert "Job for fail.service failed because the control process exited with error code." in r.err
    status = um.systemctl("status", "fail.service")
    assert status.rc == 3
    assert status.out.startswith("× fail.service - Failing")
    assert "Active: failed (Result: exit-code)" in status.out
    assert re.search(r"Main PID: \d+ \(code=exited, status=1/FAILURE\)", status.out)
    assert um.systemctl("is-failed", "fail.service").rc == 0
    listed = um.systemctl("list-units", "--state=failed", "--no-legend")
    assert "fail.service" in listed.out and "sleepy.service" not in listed.out
    assert um.systemctl("reset-failed", "fail.service").rc == 0
    assert um.systemctl("is-failed", "fail.service").rc == 1
    assert um.systemctl("is-active", "fail.service").out == "inactive\n"


def test_missing_unit(um: Manager) -> None:
    start = um.systemctl("start", "nope.service")
    assert start.rc == 5
    assert start.err.strip() == "Failed to start nope.service: Unit nope.service not found."
    status = um.systemctl("status", "nope.service")
    assert status.rc == 4
    assert "Unit nope.service could not be found." in status.err
    active = um.systemctl("is-active", "nope.service")
    assert (active.rc, active.out) == (3, "inactive\n")
    assert um.systemctl("show", "-p", "LoadState", "--value", "nope.service").out == "not-found\n"


def test_inactive_status(um: Manager) -> None:
    status = um.systemctl("status", "quiet.service")
    assert status.rc == 3
    assert status.out.startswith("○ quiet.service - Never started")
    assert "Active: inactive (dead)" in status.out


def test_show(um: Manager) -> None:
    show = um.systemctl("show", "quiet.service")
    assert show.rc == 0
    props = dict(line.split("=", 1) for line in show.out.splitlines() if "=" in line)
    assert props["Id"] == "quiet.service"
    assert props["Description"] == "Never started"
    assert props["LoadState"] == "loaded"
    assert props["ActiveState"] == "inactive"
    assert props["Type"] == "simple"
    assert props["TimeoutStartUSec"] == "1min 30s"
    assert props["ExecStart"].startswith("{ path=/bin/sleep ; argv[]=/bin/sleep 1000 ;")
    values = um.systemctl("show", "-p", "Id,SubState", "--value", "quiet.service").out.split()
    assert values == ["quiet.service", "dead"]


def test_reload_try_restart_reload_or_restart(um: Manager) -> None:
    home = Path(um.env["HOME"])
    assert um.systemctl("try-restart", "reloadable.service").rc == 0
    assert um.systemctl("is-active", "reloadable.service").rc == 3  # try-restart leaves it stopped
    assert um.systemctl("start", "reloadable.service").rc == 0
    assert um.systemctl("reload", "reloadable.service").rc == 0
    assert um.systemctl("reload-or-restart", "reloadable.service").rc == 0
    assert (home / "reloads").read_text().count("reloaded") == 2
    r = um.systemctl("reload", "quiet.service")
    assert r.rc != 0 and "Job type reload is not applicable" in r.err
    assert um.systemctl("stop", "reloadable.service").rc == 0


def test_no_block_and_list_jobs(um: Manager) -> None:
    assert um.systemctl("start", "--no-block", "slow.service").rc == 0
    assert um.systemctl("start", "--no-block", "after-slow.service").rc == 0
    jobs = um.systemctl("list-jobs")
    assert jobs.rc == 0
    assert re.search(r"\d+\s+slow\.service\s+start\s+running", jobs.out)
    assert re.search(r"\d+\s+after-slow\.service\s+start\s+waiting", jobs.out)
    assert "2 jobs listed." in jobs.out
    # GetJobAfter: the jobs this one waits for, which systemctl labels "blocking job".
    after = um.systemctl("list-jobs", "--after", "after-slow.service")
    assert re.search(r"blocking job \d+ \(slow\.service/start\)", after.out)
    before = um.systemctl("list-jobs", "--before", "slow.service")
    assert re.search(r"waiting for job \d+ \(after-slow\.service/start\)", before.out)
    waiting = re.search(r"(\d+)\s+after-slow\.service", jobs.out)
    assert waiting is not None
    assert um.systemctl("cancel", waiting.group(1)).rc == 0
    assert "after-slow.service" not in um.systemctl("list-jobs").out
    wait_for(lambda: "No jobs running." in um.systemctl("list-jobs").out, "jobs to finish", 15)
    assert um.systemctl("is-active", "slow.service").out == "inactive\n"
    assert um.systemctl("cancel", "999999").rc != 0


def test_list_units(um: Manager) -> None:
    assert um.systemctl("start", "wanting.target").rc == 0
    default = um.systemctl("list-units")
    assert default.rc == 0
    assert re.search(r"wanted\.service\s+loaded active running Wanted", default.out)
    assert "quiet.service" not in default.out
    assert "loaded units listed" in default.out
    everything = um.systemctl("list-units", "--all")
    assert "quiet.service" in everything.out
    pattern = um.systemctl("list-units", "--no-legend", "want*")
    names = [line.split()[0] for line in pattern.out.splitlines()]
    assert sorted(names) == ["wanted.service", "wanting.target"]
    deps = um.systemctl("list-dependencies", "wanting.target")
    assert "wanted.service" in deps.out


def test_cat_with_dropin(um: Manager) -> None:
    cat = um.systemctl("cat", "dropin.service")
    assert cat.rc == 0
    assert "# " + str(um.units / "dropin.service") in cat.out
    assert "# " + str(um.units / "dropin.service.d/override.conf") in cat.out
    assert um.systemctl("show", "-p", "Description", "--value", "dropin.service").out == "Overridden by drop-in\n"


def test_kill_main_with_signal(um: Manager) -> None:
    marker = Path(um.env["HOME"]) / "got-usr1"
    assert um.systemctl("start", "trap.service").rc == 0
    time.sleep(0.3)  # let the shell install its trap
    assert um.systemctl("kill", "-s", "SIGUSR1", "--kill-whom=main", "trap.service").rc == 0
    wait_for(marker.exists, "USR1 to arrive")
    assert um.systemctl("is-active", "trap.service").out == "active\n"
    assert um.systemctl("stop", "trap.service").rc == 0


def test_environment(um: Manager) -> None:
    assert um.systemctl("set-environment", "FOO=bar", "ANSWER=42").rc == 0
    env = um.systemctl("show-environment").out.splitlines()
    assert "FOO=bar" in env and "ANSWER=42" in env
    assert um.systemctl("unset-environment", "FOO").rc == 0
    env = um.systemctl("show-environment").out.splitlines()
    assert "FOO=bar" not in env and "ANSWER=42" in env
    bad = um.systemctl("set-environment", "1BAD=x")
    assert bad.rc != 0


def test_notify_service(um: Manager) -> None:
    started = time.monotonic()
    assert um.systemctl("start", "notify.service").rc == 0
    assert time.monotonic() - started >= 0.3  # start waited for READY=1
    assert um.systemctl("show", "-p", "StatusText", "--value", "notify.service").out == "Serving\n"
    assert "Status: \"Serving\"" in um.systemctl("status", "notify.service").out
    assert um.systemctl("stop", "notify.service").rc == 0


def test_isolate(um: Manager) -> None:
    assert um.systemctl("start", "wanting.target").rc == 0
    assert um.systemctl("isolate", "isolated.target").rc == 0
    assert um.systemctl("is-active", "isolated.target").out == "active\n"
    assert um.systemctl("is-active", "wanted.service").out == "inactive\n"
    refused = um.systemctl("isolate", "wanting.target")
    assert refused.rc == 4
    assert "Operation refused, unit may not be isolated." in refused.err


def test_log_level(um: Manager) -> None:
    assert um.systemctl("log-level", "debug").rc == 0
    assert um.systemctl("log-level").out == "debug\n"
    assert um.systemctl("show", "-P", "LogLevel").out == "debug\n"
    assert um.systemctl("log-level", "info").rc == 0
    assert um.systemctl("log-level", "chatty").rc != 0


def test_system_running_and_force_bus(um: Manager) -> None:
    assert um.systemctl("is-system-running").out.strip() in ("running", "degraded")
    # The same verbs through the session bus instead of the private socket.
    assert um.systemctl("start", "sleepy.service", force_bus=True).rc == 0
    assert um.systemctl("is-active", "sleepy.service", force_bus=True).out == "active\n"
    assert um.systemctl("stop", "sleepy.service", force_bus=True).rc == 0
    assert um.systemctl("start", "nope.service", force_bus=True).rc == 5


def test_exit_stops_the_user_manager(tmp_path: Path) -> None:
    for m in make_manager(tmp_path, "user", {"sleepy.service": UNITS["sleepy.service"]}):
        assert m.systemctl("start", "sleepy.service").rc == 0
        # --force: call Exit() directly instead of starting exit.target (which would do the same).
        assert m.systemctl("--force", "exit").rc == 0
        assert m.proc is not None
        m.proc.wait(15)
        assert m.proc.returncode == 0


def test_resource_accounting(um: Manager) -> None:
    assert um.systemctl("start", "burner.service").rc == 0
    shown = dict(line.split("=", 1) for line in um.systemctl(
        "show", "-p", "CPUUsageNSec,MemoryCurrent,TasksCurrent", "burner.service").out.splitlines())
    assert int(shown["CPUUsageNSec"]) >= 100_000_000  # the exited child's CPU time is counted
    assert 0 < int(shown["MemoryCurrent"]) < 2**64 - 1
    assert 0 < int(shown["TasksCurrent"]) < 10
    status = um.systemctl("status", "burner.service").out
    assert re.search(r"\n\s+Tasks: \d+\n", status) and re.search(r"\n\s+Memory: [\d.]+[KMG]\n", status)
    assert re.search(r"\n\s+CPU: \d+ms\n", status) or re.search(r"\n\s+CPU: [\d.]+s\n", status)
    assert um.systemctl("stop", "burner.service").rc == 0
    assert "CPU:" not in um.systemctl("status", "burner.service").out


# Takes its name after a delay, gives it up on SIGUSR1.
HOLDER = Path(__file__).resolve().parents[1] / "support" / "bus_name_holder.py"


def _named_unit(um: Manager, unit: str, name: str, delay: float, extra: str = "") -> None:
    um.write_unit(unit, f"[Unit]\nDescription=Named {name}\n[Service]\nType=dbus\nBusName={name}\n{extra}"
                        f"ExecStart={sys.executable} {HOLDER} {name} {delay}\n")
    assert um.systemctl("daemon-reload").rc == 0


def test_type_dbus_is_active_once_its_name_is_owned(um: Manager) -> None:
    _named_unit(um, "named.service", "org.example.Named", 1.0)
    t0 = time.monotonic()
    r = um.systemctl("start", "named.service")
    took = time.monotonic() - t0
    assert r.rc == 0, r.err
    assert took >= 1.0, took  # systemctl's job waited for the name, not only for the fork
    assert um.systemctl("is-active", "named.service").out == "active\n"
    owner = um.ns.run(["busctl", f"--address={um.bus_address}", "status", "org.example.Named"], um.env)
    assert owner.rc == 0 and f"PID={main_pid(um, 'named.service')}" in owner.out
    # Giving the name up ends the service, as in systemd.
    assert um.systemctl("kill", "-s", "USR1", "named.service").rc == 0
    wait_for(lambda: um.systemctl("is-active", "named.service").out == "inactive\n", "named.service to stop")


def test_type_dbus_without_its_name_times_out(um: Manager) -> None:
    _named_unit(um, "nameless.service", "org.example.Nameless", -1, "TimeoutStartSec=1\n")
    r = um.systemctl("start", "nameless.service")
    assert r.rc == 1
    assert "Job for nameless.service failed because a timeout was exceeded." in r.err
    assert um.systemctl("is-failed", "nameless.service").out == "failed\n"


def test_bus_name_implies_type_dbus(um: Manager) -> None:
    um.write_unit("implied.service", "[Service]\nBusName=org.example.Implied\n"
                  f"ExecStart={sys.executable} {HOLDER} org.example.Implied 0\n")
    assert um.systemctl("daemon-reload").rc == 0
    assert um.systemctl("show", "-p", "Type", "--value", "implied.service").out == "dbus\n"
    assert um.systemctl("start", "implied.service").rc == 0
    assert um.ns.run(["busctl", f"--address={um.bus_address}", "status", "org.example.Implied"], um.env).rc == 0
    assert um.systemctl("stop", "implied.service").rc == 0
