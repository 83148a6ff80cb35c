"""Service output to the real systemd-journald (Debian's 252), started in the test's own PID and
mount namespace over a private /run with volatile storage, so nothing reaches the host's journal.
sysmasterd connects StandardOutput=journal services to /run/systemd/journal/stdout with the
stream header journald expects; without a journald the output stays in the manager's log."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from bus_harness import Manager, make_manager, wait_for

from sysmasterd.core.journal import header

pytestmark = pytest.mark.root

JOURNALD = "/lib/systemd/systemd-journald"
CONF = "[Journal]\nStorage=volatile\nReadKMsg=no\nForwardToSyslog=no\nForwardToKMsg=no\nForwardToWall=no\nAudit=no\n"
UNITS = {
    "talker.service": (
        "[Unit]\nDescription=Talks to the journal\n[Service]\nType=oneshot\nSyslogIdentifier=talker\n"
        "ExecStart=/bin/sh -c 'echo hello journal; echo \"<3>something failed\"; echo stream=$JOURNAL_STREAM'\n"
    ),
    "quiet-err.service": (
        "[Service]\nType=oneshot\nStandardOutput=null\nStandardError=journal\n"
        "ExecStart=/bin/sh -c 'echo not-logged; echo only-stderr >&2'\n"
    ),
}


def test_header_fields() -> None:
    from compat.model import StdOutput

    assert header("talker", "talker.service", StdOutput.JOURNAL, 30, True) == (
        b"talker\ntalker.service\n30\n1\n0\n0\n0\n")
    assert header("x", "", StdOutput.KMSG_AND_CONSOLE, 30, True).endswith(b"\n0\n1\n1\n")


@pytest.fixture(scope="module")
def um(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Manager]:
    if not Path(JOURNALD).exists():
        pytest.skip("systemd-journald is not installed")
    yield from make_manager(tmp_path_factory.mktemp("journal"), "user", UNITS, private_run=True)


def start_journald(um: Manager) -> None:
    setup = f"mkdir -p /run/systemd/journald.conf.d && printf '{CONF}' > /run/systemd/journald.conf.d/test.conf"
    assert um.ns.run(["sh", "-c", setup], um.env).rc == 0
    um.ns.popen([JOURNALD], um.env, um.root / "journald.log")
    wait_for(lambda: um.ns.run(["test", "-S", "/run/systemd/journal/stdout"], um.env).rc == 0, "journald")


def journal(um: Manager, *match: str) -> list[dict[str, str]]:
    r = um.ns.run(["journalctl", "--no-pager", "-o", "json", *match], um.env)
    return [json.loads(line) for line in r.out.splitlines() if line.startswith("{")]


def test_without_journald_output_goes_to_the_manager_log(um: Manager) -> None:
    assert um.systemctl("start", "talker.service").rc == 0
    wait_for(lambda: "hello journal" in um.log, "output in the manager's log")


def test_output_reaches_journald(um: Manager) -> None:
    start_journald(um)
    assert um.systemctl("start", "talker.service").rc == 0
    wait_for(lambda: len(journal(um, "SYSLOG_IDENTIFIER=talker")) >= 3, "lines in the journal")
    entries = {e["MESSAGE"]: e for e in journal(um, "SYSLOG_IDENTIFIER=talker")}
    assert entries["hello journal"]["PRIORITY"] == "6"
    assert entries["hello journal"]["_TRANSPORT"] == "stdout"
    assert entries["something failed"]["PRIORITY"] == "3"  # the <3> level prefix, parsed by journald
    stream = next(m for m in entries if m.startswith("stream="))
    dev, _, ino = stream.removeprefix("stream=").partition(":")
    assert dev.isdigit() and ino.isdigit()


def test_stderr_only(um: Manager) -> None:
    assert um.systemctl("start", "quiet-err.service").rc == 0
    wait_for(lambda: journal(um, "MESSAGE=only-stderr"), "stderr in the journal")
    assert not journal(um, "MESSAGE=not-logged")


def test_manager_messages_carry_user_unit(um: Manager) -> None:
    """A user manager's messages about a unit: USER_UNIT=, found by `journalctl --user-unit`."""
    from sysmasterd.core.journal_log import UNIT_STARTED

    assert um.systemctl("start", "talker.service").rc == 0
    wait_for(lambda: any(e.get("MESSAGE_ID") == UNIT_STARTED for e in journal(um, "--user-unit", "talker.service")),
             "the job's message in the journal")
    done = next(e for e in journal(um, "--user-unit", "talker.service") if e.get("MESSAGE_ID") == UNIT_STARTED)
    assert (done["USER_UNIT"], done["SYSLOG_IDENTIFIER"], done["JOB_TYPE"]) == ("talker.service", "systemd", "start")
    assert "UNIT" not in done and len(done["USER_INVOCATION_ID"]) == 32
