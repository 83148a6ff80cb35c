"""The pure parts: init's exit reports as wait statuses, the latest report per PID."""

from __future__ import annotations

import os

from hypothesis import given
from hypothesis import strategies as st

from sysmasterd.core.recovery import RecoveryReport, exits_by_pid, wait_status
from sysmasterd.init.protocol import ChildExit


@given(st.integers(0, 255))
def test_exited_status_round_trips(code: int) -> None:
    status = wait_status(ChildExit(1, 100, "exited", code, 0))
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == code


@given(st.integers(1, 64), st.booleans())
def test_signal_status_round_trips(signo: int, dumped: bool) -> None:
    status = wait_status(ChildExit(1, 100, "dumped" if dumped else "killed", signo, 0))
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signo
    assert os.WCOREDUMP(status) is dumped


def test_latest_report_per_pid_wins() -> None:
    reports = [ChildExit(3, 7, "exited", 1, 30), ChildExit(1, 7, "exited", 0, 10), ChildExit(2, 8, "killed", 9, 20)]
    got = exits_by_pid(reports)
    assert got[7].seq == 3 and got[8].status == 9


def test_report_line_names_every_count() -> None:
    text = RecoveryReport(adopted=3, exits=2, exits_unknown=1, exits_awaited=1, intents=1, timers=4).describe()
    assert text == ("3 PIDs re-adopted, 2 exits applied (1 without status, 1 awaited from init), "
                    "1 interrupted starts adopted, 4 timers re-armed")
