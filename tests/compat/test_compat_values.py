from __future__ import annotations

import signal
import subprocess

import pytest
from compat_helpers import needs_analyze
from hypothesis import given, settings
from hypothesis import strategies as st

from compat.exitstatus import exit_status_from_string, exit_status_name
from compat.model import USEC_INFINITY, ExitStatusSet, ResourceLimit
from compat.values import (
    RLIM_INFINITY,
    parse_boolean,
    parse_cpu_set,
    parse_exit_status_set,
    parse_mode,
    parse_rlimit,
    parse_size,
    parse_timespan,
    signal_from_string,
    signal_name,
)
from sysmasterd.timespan import format_timespan


@pytest.mark.parametrize(
    ("text", "usec"),
    [
        ("1min 30s", 90_000_000),
        ("500ms", 500_000),
        ("5", 5_000_000),
        ("1.5", 1_500_000),
        (".5s", 500_000),
        ("2 h", 7_200_000_000),
        ("1h2m3s4ms5us", 3_723_004_005),
        ("1y", 31_557_600_000_000),
        ("1M", 2_629_800_000_000),
        ("  infinity ", USEC_INFINITY),
        ("10 µs", 10),
    ],
)
def test_timespan(text: str, usec: int) -> None:
    assert parse_timespan(text) == usec


@pytest.mark.parametrize("text", ["", "abc", "5x", "3.", "-1s", "12.34.56", "infinityx", "1 2 x"])
def test_timespan_invalid(text: str) -> None:
    with pytest.raises(ValueError):
        parse_timespan(text)


def _systemd_timespan(text: str, field: str = "μs") -> str | None:
    proc = subprocess.run(["systemd-analyze", "timespan", text], capture_output=True, text=True)
    if proc.returncode != 0:
        return None
    for line in proc.stdout.splitlines():
        key, _, value = line.strip().partition(": ")
        if key == field:
            return value
    return None


@needs_analyze
@pytest.mark.parametrize(
    "text",
    ["1min 30s", "0.25s", "1.0001h", "3d 4h", "7w", "1s500ms", "12.5 min", "2M", "1 y 2 s", "x", "5.",
     "1.5", "59.999999s", "61s", "100ms", "1us", "0", "infinity", "3w 2d 5h 4min 3.5s"],
)
def test_timespan_matches_systemd_analyze(text: str) -> None:
    try:
        usec = parse_timespan(text)
    except ValueError:
        assert _systemd_timespan(text) is None
        return
    assert str(usec) == _systemd_timespan(text)
    assert format_timespan(usec) == _systemd_timespan(text, "Human")


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="0123456789. smhdwyMinuecs", max_size=20))
def test_timespan_total(text: str) -> None:
    try:
        assert parse_timespan(text) >= 0
    except ValueError:
        pass


def test_format_timespan_accuracy() -> None:
    assert format_timespan(1_500_000, 1_000_000) == "1s"
    assert format_timespan(100_000, 1_000_000) == "100ms"
    assert format_timespan(90_000_000, 1_000_000) == "1min 30s"
    assert format_timespan(1_234_567, 1000) == "1.234s"


def test_sizes() -> None:
    assert parse_size("1K") == 1024
    assert parse_size("1.5G") == 1536 * 1024 * 1024
    assert parse_size("10.M") == 10 * 1024 * 1024
    assert parse_size("512") == 512
    with pytest.raises(ValueError):
        parse_size("1Q")


def test_booleans() -> None:
    for t in ("1", "yes", "Y", "true", "t", "ON"):
        assert parse_boolean(t) is True
    for f in ("0", "no", "n", "false", "F", "off"):
        assert parse_boolean(f) is False
    with pytest.raises(ValueError):
        parse_boolean("maybe")


def test_mode() -> None:
    assert parse_mode("0755") == 0o755
    assert parse_mode("027") == 0o27
    for bad in ("8", "abc", "77777", ""):
        with pytest.raises(ValueError):
            parse_mode(bad)


def test_signals() -> None:
    assert signal_from_string("SIGKILL") == signal.SIGKILL
    assert signal_from_string("TERM") == signal.SIGTERM
    assert signal_from_string("9") == 9
    assert signal_from_string("RTMIN+2") == signal.SIGRTMIN + 2
    assert signal_from_string("SIGRTMAX-1") == signal.SIGRTMAX - 1
    assert signal_name(15) == "SIGTERM"
    for bad in ("SIGFOO", "0", "100", "RTMIN+100"):
        with pytest.raises(ValueError):
            signal_from_string(bad)


def test_exit_status_sets() -> None:
    target = ExitStatusSet()
    parse_exit_status_set("1 2 SIGKILL TERM NOTINSTALLED 255", target)
    assert target.statuses == {1, 2, 5, 255}
    assert target.signals == {signal.SIGKILL, signal.SIGTERM}
    with pytest.raises(ValueError):
        parse_exit_status_set("3 256", target)
    assert target.statuses == {1, 2, 5, 255}  # a bad list changes nothing
    assert exit_status_from_string("EXEC") == 203
    assert exit_status_name(217) == "USER"


def test_rlimits() -> None:
    assert parse_rlimit("NOFILE", "1024:4096") == ResourceLimit(1024, 4096)
    assert parse_rlimit("NOFILE", "infinity") == ResourceLimit(RLIM_INFINITY, RLIM_INFINITY)
    assert parse_rlimit("AS", "1G:infinity") == ResourceLimit(1 << 30, RLIM_INFINITY)
    assert parse_rlimit("CPU", "1min") == ResourceLimit(60, 60)
    assert parse_rlimit("RTTIME", "1s") == ResourceLimit(1_000_000, 1_000_000)
    assert parse_rlimit("NICE", "-5") == ResourceLimit(25, 25)
    with pytest.raises(ValueError):
        parse_rlimit("NOFILE", "10:5")
    with pytest.raises(ValueError):
        parse_rlimit("NOFILE", "infinity:5")


def test_cpu_set() -> None:
    assert parse_cpu_set("0-2 5,7") == [0, 1, 2, 5, 7]
    with pytest.raises(ValueError):
        parse_cpu_set("3-1")
