"""Transient units made by the real systemd-run (Debian's 252) against sysmasterd --user on a
private bus: services, --wait results, --collect, timers with their service (--on-active),
scopes, and the files in $XDG_RUNTIME_DIR/systemd/transient across daemon-reload. --pipe and --pty:
test_bus_transient_stdio.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from bus_harness import Manager, Result, make_manager, wait_for

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def um(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Manager]:
    yield from make_manager(tmp_path_factory.mktemp("transient"), "user", {})


def run(um: Manager, *args: str, via_bus: bool = False, timeout: float = 30) -> Result:
    env = dict(um.env)
    if via_bus:  # no private socket where systemd-run looks: it falls back to the bus
        env["XDG_RUNTIME_DIR"] = str(um.root / "nowhere")
    return um.ns.run(["systemd-run", "--user", *args], env, timeout)


def transient_dir(um: Manager) -> Path:
    return Path(um.env["XDG_RUNTIME_DIR"]) / "systemd" / "transient"


def show(um: Manager, unit: str, *props: str) -> dict[str, str]:
    out = um.systemctl("show", unit, *(f"-p{p}" for p in props)).out
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def test_service_runs_and_is_collected(um: Manager) -> None:
    r = run(um, "--unit=hello", "-p", "Description=Hello there", "/bin/sh", "-c", "echo hi > $HOME/hello")
    assert r.rc == 0, r.err
    assert "Running as unit: hello.service" in r.err
    wait_for(lambda: (um.root / "home/hello").exists(), "the command ran")
    # Inactive and unreferenced: collected, file and all.
    wait_for(lambda: not (transient_dir(um) / "hello.service").exists(), "transient file removed")
    assert show(um, "hello.service", "LoadState")["LoadState"] == "not-found"


def test_remain_after_exit_shows_transient(um: Manager) -> None:
    r = run(um, "--unit=stays", "--remain-after-exit", "-p", 'Environment="A=b c" D=e', "/bin/true")
    assert r.rc == 0, r.err
    path = transient_dir(um) / "stays.service"
    assert path.is_file()
    text = path.read_text()
    assert "[Service]" in text and "RemainAfterExit=yes" in text
    wait_for(lambda: show(um, "stays.service", "SubState")["SubState"] == "exited", "exited")
    props = show(um, "stays.service", "Transient", "UnitFileState", "FragmentPath", "Environment", "ActiveState")
    assert props["Transient"] == "yes"
    assert props["UnitFileState"] == "transient"
    assert props["FragmentPath"] == str(path)
    assert props["Environment"] == '"A=b c" D=e'
    # daemon-reload keeps it: the file is found again.
    assert um.systemctl("daemon-reload").rc == 0
    assert show(um, "stays.service", "ActiveState", "Transient") == {"ActiveState": "active", "Transient": "yes"}
    # A second unit of the same name is refused while it exists.
    again = run(um, "--unit=stays", "/bin/true")
    assert again.rc != 0 and "already loaded or has a fragment file" in again.err
    assert um.systemctl("stop", "stays.service").rc == 0
    wait_for(lambda: not path.exists(), "transient file removed after stop")


@pytest.mark.parametrize("via_bus", [False, True])
def test_wait_reports_result(um: Manager, via_bus: bool) -> None:
    ok = run(um, "--wait", "/bin/true", via_bus=via_bus)
    assert ok.rc == 0, ok.err
    assert "Finished with result: success" in ok.err
    bad = run(um, "--wait", "/bin/sh", "-c", "exit 3", via_bus=via_bus)
    assert bad.rc == 3, bad.err
    assert "Finished with result: exit-code" in bad.err
    assert "Main processes terminated with: code=exited/status=3" in bad.err


def test_failed_stays_until_reset_unless_collect(um: Manager) -> None:
    assert run(um, "--unit=broken", "/bin/false").rc == 0
    wait_for(lambda: show(um, "broken.service", "ActiveState")["ActiveState"] == "failed", "failed")
    assert (transient_dir(um) / "broken.service").exists()
    assert um.systemctl("reset-failed", "broken.service").rc == 0
    wait_for(lambda: not (transient_dir(um) / "broken.service").exists(), "collected after reset-failed")
    assert run(um, "--unit=collected", "--collect", "/bin/false").rc == 0
    wait_for(lambda: not (transient_dir(um) / "collected.service").exists(), "collected at once")


def test_timer_with_its_service(um: Manager) -> None:
    r = run(um, "--unit=later", "--on-active=1", "--timer-property=AccuracySec=1us",
            "/bin/sh", "-c", "touch $HOME/timer-fired")
    assert r.rc == 0, r.err
    assert "Running timer as unit: later.timer" in r.err
    assert "Will run service as unit: later.service" in r.err
    assert (transient_dir(um) / "later.timer").exists() and (transient_dir(um) / "later.service").exists()
    wait_for(lambda: (um.root / "home/timer-fired").exists(), "the timer fired its service")
    # RemainAfterElapse=no: the timer and its service go once the service ran.
    wait_for(lambda: not (transient_dir(um) / "later.timer").exists(), "timer collected")
    wait_for(lambda: not (transient_dir(um) / "later.service").exists(), "service collected")


def test_scope_holds_the_command(um: Manager) -> None:
    r = run(um, "--scope", "--unit=myscope", "-p", "OOMPolicy=continue", "/bin/sh", "-c",
            "systemctl --user show -p ActiveState -p SubState -p ControlGroup -p Result -p OOMPolicy myscope.scope; "
            "cat /proc/self/cgroup; systemctl --user status myscope.scope")
    assert r.rc == 0, r.err
    assert "Running scope as unit: myscope.scope" in r.err
    assert "ActiveState=active" in r.out and "SubState=running" in r.out
    assert "/myscope.scope" in r.out
    # the scope's own interface (org.freedesktop.systemd1.Scope) answers
    assert "Result=success" in r.out and "OOMPolicy=continue" in r.out, r.out
    group = next(line.split("=", 1)[1] for line in r.out.splitlines() if line.startswith("ControlGroup="))
    assert group.endswith("/myscope.scope"), r.out
    assert f"CGroup: {group}" in r.out, r.out  # status shows the scope's processes
    wait_for(lambda: not (transient_dir(um) / "myscope.scope").exists(), "scope gone with its processes")


def test_scope_stop_kills(um: Manager) -> None:
    proc = um.ns.popen(["systemd-run", "--user", "--scope", "--unit=longscope", "/bin/sleep", "1000"], um.env,
                       um.root / "scope.log")
    try:
        wait_for(lambda: show(um, "longscope.scope", "SubState")["SubState"] == "running", "scope running")
        assert um.systemctl("stop", "longscope.scope").rc == 0
        proc.wait(10)
        assert show(um, "longscope.scope", "ActiveState")["ActiveState"] in ("inactive", "failed")
    finally:
        proc.kill()
        proc.wait(5)


def test_system_call_settings(um: Manager) -> None:
    """systemd-run's (bas) forms: a deny list that the service feels, and SystemCallLog=."""
    r = run(um, "--wait", "--quiet", "-p", "SystemCallFilter=~uname", "-p", "SystemCallErrorNumber=EPERM",
            "-p", "SystemCallLog=@obsolete", "-p", "RestrictAddressFamilies=AF_UNIX AF_INET",
            "/bin/sh", "-c", "uname && exit 7 || exit 0")
    assert r.rc == 0, r.err


def test_oom_settings(um: Manager) -> None:
    """OOMPolicy= and the ManagedOOM*= settings systemd-oomd reads, as systemd-run sends them
    (the pressure limit scaled to 32 bits) and as systemctl shows them back."""
    r = run(um, "--unit=oomy", "--remain-after-exit", "-p", "OOMPolicy=kill", "-p", "ManagedOOMSwap=kill",
            "-p", "ManagedOOMMemoryPressure=kill", "-p", "ManagedOOMMemoryPressureLimit=42.5%",
            "-p", "ManagedOOMPreference=avoid", "/bin/true")
    assert r.rc == 0, r.err
    props = show(um, "oomy.service", "OOMPolicy", "ManagedOOMSwap", "ManagedOOMMemoryPressure",
                 "ManagedOOMMemoryPressureLimit", "ManagedOOMPreference")
    assert props == {"OOMPolicy": "kill", "ManagedOOMSwap": "kill", "ManagedOOMMemoryPressure": "kill",
                     # shown as kept: 42.5% of UINT32_MAX
                     "ManagedOOMMemoryPressureLimit": "1825361100", "ManagedOOMPreference": "avoid"}
    assert um.systemctl("stop", "oomy.service").rc == 0
    # Delegate= leaves OOM kills to the payload: continue, unless told otherwise
    assert run(um, "--unit=delegated", "--remain-after-exit", "-p", "Delegate=yes", "/bin/true").rc == 0
    assert show(um, "delegated.service", "OOMPolicy") == {"OOMPolicy": "continue"}
    assert um.systemctl("stop", "delegated.service").rc == 0


def test_bad_property_refused(um: Manager) -> None:
    r = run(um, "-p", "NoSuchThing=1", "/bin/true")
    assert r.rc != 0
    assert "Unknown assignment" in r.err or "Cannot set property" in r.err


def test_survives_a_core_crash(um: Manager) -> None:
    import psutil

    assert run(um, "--unit=durable", "--remain-after-exit", "/bin/true").rc == 0
    wait_for(lambda: show(um, "durable.service", "SubState")["SubState"] == "exited", "exited")
    assert um.proc is not None
    for child in psutil.Process(um.proc.pid).children():
        child.kill()
    um.proc.wait(10)
    um.start()
    wait_for(lambda: show(um, "durable.service", "ActiveState"), "the new core answers")
    props = show(um, "durable.service", "ActiveState", "Transient", "UnitFileState")
    assert props == {"ActiveState": "active", "Transient": "yes", "UnitFileState": "transient"}
    assert um.systemctl("stop", "durable.service").rc == 0
    wait_for(lambda: not (transient_dir(um) / "durable.service").exists(), "file removed after stop")


def test_log_settings(um: Manager) -> None:
    """systemd-run's -p forms of the log settings (LogExtraFields= travels as 'aay')."""
    r = run(um, "--unit=logset", "--remain-after-exit", "-p", "SyslogLevel=notice", "-p", "SyslogFacility=local3",
            "-p", "LogLevelMax=warning", "-p", "LogExtraFields=A_FIELD=1", "-p", "LogExtraFields=B_FIELD=two words",
            "-p", "LogRateLimitIntervalSec=5s", "-p", "LogRateLimitBurst=7", "/bin/true")
    assert r.rc == 0, r.err
    props = show(um, "logset.service", "SyslogLevel", "SyslogFacility", "LogLevelMax", "LogRateLimitIntervalUSec",
                 "LogRateLimitBurst")
    assert props == {"SyslogLevel": "5", "SyslogFacility": "19", "LogLevelMax": "4", "LogRateLimitIntervalUSec": "5s",
                     "LogRateLimitBurst": "7"}, props
    fields = um.systemctl("show", "-P", "LogExtraFields", "logset.service").out.strip()
    assert fields == "A_FIELD=1 B_FIELD=two words", fields
    assert "LogExtraFields=\"B_FIELD=two words\"" in (transient_dir(um) / "logset.service").read_text()
    assert um.systemctl("stop", "logset.service").rc == 0
