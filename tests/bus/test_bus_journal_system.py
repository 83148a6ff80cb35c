"""`journalctl -u` and `systemctl status` under a system-scope sysmasterd, with Debian's real
journald socket-activated by its own units (the setup of test_bus_socket_peers: PID + mount
namespace, private /run and /dev, volatile journal).

journald names a sender's unit (_SYSTEMD_UNIT=) from its cgroup path taken relative to "the
system's root": PID 1's cgroup less a trailing /init.scope (cg_get_root_path()). Under a test
manager the units live below the manager's instance directory, so the namespace's PID 1 is put
into that directory's init.scope, where systemd's PID 1 sits on a booted machine: journald then
sees `system.slice/chatty.service` below its root. The manager's own messages claim PID 1 as
systemd's do and carry UNIT=/MESSAGE_ID=, so `journalctl -u` finds them through `_PID=1 UNIT=`.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
from bus_harness import Manager, wait_for
from test_bus_socket_peers import JOURNAL_CONF, JOURNAL_UNITS, _manager

from sysmasterd.core import journal_log

pytestmark = pytest.mark.root

CHATTY = ("[Unit]\nDescription=Chatty test service\nDefaultDependencies=no\n[Service]\nType=oneshot\n"
          "ExecStart=/bin/sh -c 'echo line-from-chatty; echo \"<4>warned-by-chatty\"'\n")
FAILING = "[Unit]\nDefaultDependencies=no\n[Service]\nExecStart=/bin/sh -c 'echo about-to-fail; exit 3'\n"
LOGGY = ("[Unit]\nDescription=Loggy\nDefaultDependencies=no\n[Service]\nType=oneshot\nRemainAfterExit=yes\n"
         "SyslogIdentifier=loggy\nSyslogFacility=local3\nSyslogLevel=notice\nLogLevelMax=notice\n"
         "LogExtraFields=TEST_FIELD=one \"TEST_OTHER=two words\" bad-name=x\nLogRateLimitBurst=1000\n"
         "ExecStart=/bin/sh -c 'echo plain-line; echo \"<7>debug-line\"; echo \"<4>warn-line\"'\n")


def _cgroup_base(log: str) -> Path:
    found = re.search(r"cgroup v2 (/\S+?)\)", log)
    if found is None:
        pytest.skip("the manager has no cgroup v2 hierarchy (journald derives units from it)")
    mount = next(m for m in ("/sys/fs/cgroup/unified", "/sys/fs/cgroup")
                 if Path(m, "cgroup.controllers").exists())
    return Path(mount + found.group(1))


@pytest.fixture()
def jm(tmp_path: Path) -> Iterator[Manager]:
    if shutil.which("journalctl") is None or shutil.which("logger") is None:
        pytest.skip("journalctl or logger missing")
    # --shared-runtime: the manager is the namespace's own, writing /run/systemd/units/ for journald.
    for m in _manager(tmp_path, JOURNAL_UNITS, [["sh", "-c", JOURNAL_CONF]], ("--shared-runtime",)):
        for name, text in (("chatty.service", CHATTY), ("failing.service", FAILING), ("loggy.service", LOGGY)):
            m.write_unit(name, text)
        # Before journald starts: it reads PID 1's cgroup once, as its root.
        scope = _cgroup_base(m.log) / "init.scope"
        scope.mkdir(exist_ok=True)
        (scope / "cgroup.procs").write_text(str(m.ns.pid))
        assert m.systemctl("start", "systemd-journald.socket", "systemd-journald-dev-log.socket").rc == 0
        assert m.ns.run(["logger", "-t", "smtest", "wake up"], m.env).rc == 0
        wait_for(partial(_journald_running, m), "journald running", 30)
        yield m


def _journald_running(m: Manager) -> bool:
    return m.systemctl("show", "-P", "SubState", "systemd-journald.service").out.strip() == "running"


def _journal(m: Manager, *args: str) -> list[dict[str, str]]:
    r = m.ns.run(["journalctl", "--no-pager", "-o", "json", *args], m.env)
    return [json.loads(line) for line in r.out.splitlines() if line.startswith("{")]


def _messages(m: Manager, unit: str) -> list[str]:
    return [e["MESSAGE"] for e in _journal(m, "-u", unit)]


def test_journalctl_u_shows_the_service_and_the_manager_lines(jm: Manager) -> None:
    assert jm.systemctl("start", "chatty.service").rc == 0
    wanted = ["Starting Chatty test service...", "line-from-chatty", "warned-by-chatty",
              "chatty.service: Deactivated successfully.", "Finished Chatty test service."]
    try:
        wait_for(lambda: all(w in _messages(jm, "chatty.service") for w in wanted), "journalctl -u", 30)
    except AssertionError:
        raise AssertionError(f"{_messages(jm, 'chatty.service')}\n{jm.log}") from None
    assert _messages(jm, "chatty.service") == wanted  # in systemd's order, nothing else
    entries = {e["MESSAGE"]: e for e in _journal(jm, "-u", "chatty.service")}
    own = entries["line-from-chatty"]
    assert (own["_SYSTEMD_UNIT"], own["_TRANSPORT"], own["SYSLOG_IDENTIFIER"]) == ("chatty.service", "stdout", "sh")
    assert entries["warned-by-chatty"]["PRIORITY"] == "4"
    done = entries["Finished Chatty test service."]
    assert (done["_PID"], done["UNIT"], done["SYSLOG_IDENTIFIER"]) == ("1", "chatty.service", "systemd")
    assert (done["MESSAGE_ID"], done["JOB_TYPE"], done["JOB_RESULT"]) == (journal_log.UNIT_STARTED, "start", "done")
    assert done["_SYSTEMD_UNIT"] == "init.scope"  # PID 1's cgroup, as under systemd
    assert len(done["INVOCATION_ID"]) == 32
    assert entries["Starting Chatty test service..."]["INVOCATION_ID"] == done["INVOCATION_ID"]
    assert entries["chatty.service: Deactivated successfully."]["MESSAGE_ID"] == journal_log.UNIT_SUCCESS
    assert entries["Starting Chatty test service..."]["MESSAGE_ID"] == journal_log.UNIT_STARTING

    status = jm.systemctl("status", "--no-pager", "-n", "20", "chatty.service").out
    for line in wanted:
        assert line in status, status
    # sctl's status ends with the same journal lines (after the first blank line)
    ours = jm.sctl("status", "--no-pager", "-n", "20", "chatty.service").out
    assert ours.partition("\n\n")[2] == status.partition("\n\n")[2], (ours, status)
    assert jm.sctl("status", "-n", "0", "chatty.service").out.count("\n\n") == 0


def test_failed_unit_messages(jm: Manager) -> None:
    jm.systemctl("start", "failing.service")
    wait_for(lambda: "failing.service: Failed with result 'exit-code'." in _messages(jm, "failing.service"),
             "the failure in the journal", 30)
    entries = {e["MESSAGE"]: e for e in _journal(jm, "-u", "failing.service")}
    failure = entries["failing.service: Failed with result 'exit-code'."]
    assert (failure["MESSAGE_ID"], failure["UNIT_RESULT"], failure["PRIORITY"]) == (
        journal_log.UNIT_FAILURE_RESULT, "exit-code", "4")
    assert entries["Started failing.service."]["MESSAGE_ID"] == journal_log.UNIT_STARTED
    assert "about-to-fail" in entries
    status = jm.systemctl("status", "--no-pager", "failing.service").out
    assert "about-to-fail" in status and "Failed with result 'exit-code'." in status, status


def test_log_settings_reach_journald(jm: Manager) -> None:
    """SyslogFacility=/SyslogLevel= in the stream header; LogLevelMax=, LogExtraFields= and the
    invocation ID through the files in /run/systemd/units/, which journald reads itself."""
    assert jm.systemctl("start", "loggy.service").rc == 0
    warning = "loggy.service:11: Log field name is invalid, ignoring: bad-name=x"
    wait_for(lambda: any(warning in e["MESSAGE"] for e in _journal(jm)) or warning in jm.log, "the warning", 30)
    invocation = jm.systemctl("show", "-P", "InvocationID", "loggy.service").out.strip()
    assert len(invocation) == 32
    links = jm.ns.run(["sh", "-c", "cd /run/systemd/units && for f in *loggy*; do echo \"$f $(readlink $f)\"; done"],
                      jm.env).out.split("\n")
    assert f"invocation:loggy.service {invocation}" in links, links
    assert "log-level-max:loggy.service 5" in links and "log-rate-limit-burst:loggy.service 1000" in links, links
    wait_for(lambda: "warn-line" in _messages(jm, "loggy.service"), "loggy's lines", 30)
    entries = {e["MESSAGE"]: e for e in _journal(jm, "-u", "loggy.service")}
    assert "debug-line" not in entries  # above LogLevelMax=notice: journald drops it
    assert "Starting Loggy..." not in entries  # the manager's own info lines about the unit too
    plain, warn = entries["plain-line"], entries["warn-line"]
    assert (plain["PRIORITY"], plain["SYSLOG_FACILITY"], warn["PRIORITY"]) == ("5", "19", "4")
    for e in (plain, warn):
        assert (e["TEST_FIELD"], e["TEST_OTHER"], e["_SYSTEMD_INVOCATION_ID"]) == ("one", "two words", invocation)
    show = jm.systemctl("show", "-p", "SyslogLevel,SyslogFacility,SyslogPriority,LogLevelMax,LogRateLimitBurst",
                        "loggy.service").out.split()
    assert sorted(show) == ["LogLevelMax=5", "LogRateLimitBurst=1000", "SyslogFacility=19", "SyslogLevel=5",
                            "SyslogPriority=157"], show
    assert jm.systemctl("stop", "loggy.service").rc == 0
    left = jm.ns.run(["sh", "-c", "ls /run/systemd/units | grep loggy || true"], jm.env).out
    assert left.strip() == "", left  # removed once the unit is inactive
