"""compat.calendar: OnCalendar= parsing, normalized form and next elapse.

The unit tests pin down behaviour worth knowing; the oracle tests compare everything with
Debian's `systemd-analyze calendar --iterations=5 --base-time=@N` (systemd 252.39) on a
generated corpus, in several timezones and next to their DST changes.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from test_calendar_oracle import (
    BASES,
    FEATURES,
    SYSTEMD_ANALYZE,
    Outcome,
    base_usec,
    dst_corpus,
    oracle,
    ours,
    random_corpus,
)

from compat.calendar import CalendarError, local_abbreviations, parse_calendar

BERLIN = ZoneInfo("Europe/Berlin")
UTC_ZONE = ZoneInfo("UTC")


def usec(text: str, zone: ZoneInfo = UTC_ZONE) -> int:
    when = datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=zone)
    return int(when.timestamp()) * 1_000_000


def norm(text: str, zone: ZoneInfo = UTC_ZONE) -> str:
    return parse_calendar(text, zone).normalized()


# ---------------------------------------------------------------------------------------------
# Parsing and normalized form


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("minutely", "*-*-* *:*:00"),
        ("hourly", "*-*-* *:00:00"),
        ("daily", "*-*-* 00:00:00"),
        ("weekly", "Mon *-*-* 00:00:00"),
        ("monthly", "*-*-01 00:00:00"),
        ("quarterly", "*-01,04,07,10-01 00:00:00"),
        ("semiannually", "*-01,07-01 00:00:00"),
        ("yearly", "*-01-01 00:00:00"),
        ("Fri,Mon..Wed", "Mon..Wed,Fri *-*-* 00:00:00"),
        ("Sat-Sun 10:00", "Sat,Sun *-*-* 10:00:00"),
        ("*:0/15", "*-*-* *:00/15:00"),
        ("*-*-* *:00/15", "*-*-* *:00/15:00"),
        ("8..17/3:00", "*-*-* 08..17/3:00:00"),
        ("*:10..40/7", "*-*-* *:10..38/7:00"),  # the range is cut to its last elapse
        ("*:05..10/6", "*-*-* *:05:00"),  # a repetition that cannot repeat is a value
        ("24-2-29", "2024-02-29 00:00:00"),
        ("*-*~3,1", "*-*~01,03 00:00:00"),
        ("*:*:0.5/0.25", "*-*-* *:*:00.500000/0.250000"),
        ("*:*:1.0000005", "*-*-* *:*:01.000001"),
        ("*:*:0/1", "*-*-* *:*:*"),
        ("@86400", "1970-01-02 00:00:00 UTC"),
        ("daily utc", "*-*-* 00:00:00 UTC"),
        ("daily Asia/Tokyo", "*-*-* 00:00:00 Asia/Tokyo"),
    ],
)
def test_normalized_form(text: str, expected: str) -> None:
    assert norm(text) == expected
    assert norm(expected) == expected  # the normalized form reads back to itself


@pytest.mark.parametrize(
    ("text", "errno_name"),
    [
        ("", "EINVAL"),
        ("bogus", "EINVAL"),
        ("7", "EINVAL"),  # a lone number is neither a date nor a time
        ("Mon..", "EINVAL"),
        ("Fri..Mon", "EINVAL"),
        ("*-*-32", "EINVAL"),
        ("*:58/5", "EINVAL"),  # the repetition must fit once more into the range
        ("*-*~29", "EINVAL"),  # "~" reaches back at most 28 days
        ("*-*~15,28", "EINVAL"),  # systemd narrows that by 3 days per extra list element
        ("*:*:0.0..0.9", "EINVAL"),
        ("*:*:00/0.0000001", "ERANGE"),
        ("00:00:2300", "ERANGE"),
        ("@88588582097858858", "ERANGE"),
        ("2200-01-01", "EINVAL"),
        ("12:00 Mars/Olympus", "EINVAL"),
        ("*:" + ",".join(["1"] * 242), "ENOBUFS"),
    ],
)
def test_refused(text: str, errno_name: str) -> None:
    with pytest.raises(CalendarError) as info:
        parse_calendar(text, UTC_ZONE)
    assert info.value.errno_name == errno_name


def test_error_message_is_systemds() -> None:
    with pytest.raises(CalendarError, match=r"^Invalid argument$"):
        parse_calendar("bogus", UTC_ZONE)


def test_local_abbreviation_forces_dst_flag() -> None:
    assert local_abbreviations(BERLIN, 2024) == ("CET", "CEST")
    spec = parse_calendar("02:30 CEST", BERLIN)
    assert spec.normalized() == "*-*-* 02:30:00 CEST"
    assert spec.dst == 1 and spec.timezone is None
    # Outside Berlin "CEST" is no zone name at all.
    with pytest.raises(CalendarError):
        parse_calendar("02:30 CEST", UTC_ZONE)


# ---------------------------------------------------------------------------------------------
# Next elapse


def test_next_elapse_basic() -> None:
    spec = parse_calendar("Mon..Fri *-*-* 09:30", UTC_ZONE)
    start = usec("2024-05-17 10:00:00")  # a Friday, after 09:30
    assert spec.next_elapse(start, UTC_ZONE) == usec("2024-05-20 09:30:00")
    # strictly after: the elapse itself is not returned again
    assert spec.next_elapse(usec("2024-05-20 09:30:00"), UTC_ZONE) == usec("2024-05-21 09:30:00")
    assert spec.next_elapse(datetime(2024, 5, 17, 10, tzinfo=UTC), UTC_ZONE) == usec("2024-05-20 09:30:00")


def test_next_elapse_never() -> None:
    assert parse_calendar("*-02-30", UTC_ZONE).next_elapse(0, UTC_ZONE) is None
    assert parse_calendar("2020-01-01", UTC_ZONE).next_elapse(usec("2024-01-01 00:00:00"), UTC_ZONE) is None


def test_fractional_seconds() -> None:
    spec = parse_calendar("*:*:0/0.5", UTC_ZONE)
    start = usec("2024-01-01 00:00:00")
    assert list(spec.iterations(start, 3, UTC_ZONE)) == [start + 500_000, start + 1_000_000, start + 1_500_000]


def test_end_of_month() -> None:
    spec = parse_calendar("*-*~1 12:00", UTC_ZONE)  # the last day of every month
    elapses = spec.iterations(usec("2024-01-01 00:00:00"), 3, UTC_ZONE)
    assert [datetime.fromtimestamp(u // 1_000_000, UTC).day for u in elapses] == [31, 29, 31]


def test_dst_gap_is_skipped_and_overlap_elapses_once() -> None:
    daily = parse_calendar("02:30", BERLIN)
    # 2024-03-31 02:30 does not exist in Berlin: systemd skips that day (02:30 CEST on April 1).
    assert daily.next_elapse(usec("2024-03-30 12:00:00"), BERLIN) == usec("2024-04-01 00:30:00")
    # "*:0/15" keeps running through the gap: 01:45 CET, then 03:00 CEST.
    quarter = parse_calendar("*:0/15", BERLIN)
    assert quarter.next_elapse(usec("2024-03-31 00:45:00"), BERLIN) == usec("2024-03-31 01:00:00")
    # 2024-10-27 02:30 happens twice: the timer elapses at the first (CEST) one only.
    first = daily.next_elapse(usec("2024-10-26 12:00:00"), BERLIN)
    assert first == usec("2024-10-27 00:30:00")
    assert daily.next_elapse(first, BERLIN) == usec("2024-10-28 01:30:00")


def test_named_timezone_ignores_local_zone() -> None:
    spec = parse_calendar("2017-09-09 20:42:00 Pacific/Auckland", BERLIN)
    assert spec.next_elapse(12345, BERLIN) == spec.next_elapse(12345, UTC_ZONE) == 1504946520000000


def test_dublin_negative_dst_does_not_stick() -> None:
    # Irish winter time is "negative DST"; 252's later stable releases step over the gap.
    dublin = ZoneInfo("Europe/Dublin")
    hourly = parse_calendar("hourly", dublin)
    assert hourly.next_elapse(1743292800000000, dublin) == 1743296400000000


# ---------------------------------------------------------------------------------------------
# Oracle

needs_oracle = pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="systemd-analyze not installed")


def _compare(exprs: list[str], tz: str, base: int) -> list[str]:
    theirs = oracle(exprs, tz, base)
    problems = []
    for expr, want in zip(exprs, theirs, strict=True):
        got: Outcome = ours(expr, tz, base)
        if str(got) != str(want):
            problems.append(f"TZ={tz} base=@{base // 1_000_000} {expr!r}\n  ours:    {got}\n  systemd: {want}")
    return problems


@needs_oracle
@pytest.mark.parametrize("tz", sorted(BASES))
def test_oracle_corpus(tz: str) -> None:
    """Every feature, DST-sensitive wall-clock times and 300 random expressions, per base time."""
    exprs = FEATURES + dst_corpus() + random_corpus(seed=len(tz), count=300)
    problems: list[str] = []
    for base in BASES[tz]:
        problems += _compare(exprs, tz, base_usec(base))
    assert not problems, f"{len(problems)} differences:\n" + "\n".join(problems[:20])


@needs_oracle
def test_oracle_dublin_and_auckland() -> None:
    """Negative DST (Dublin) and the southern hemisphere, around their 2025 changes."""
    exprs = [*dst_corpus(), "hourly", "*:0/20", "*-*-* 00..02:*:00", "Sun *-*-* 01:00:00"]
    problems = []
    cases = [
        ("Europe/Dublin", "2025-03-29 23:30:00"),
        ("Europe/Dublin", "2025-10-26 00:30:00"),
        ("Pacific/Auckland", "2025-04-05 13:30:00"),
        ("Pacific/Auckland", "2025-09-27 13:30:00"),
    ]
    for tz, base in cases:
        problems += _compare(exprs, tz, base_usec(base))
    assert not problems, "\n".join(problems[:20])


@pytest.mark.parametrize(
    ("text", "tz", "after", "expected"),
    [
        # Values from systemd's test-calendarspec.c; sub-second ones the oracle cannot show.
        ("2016-03-27 03:17:00", "Europe/Berlin", 12345, 1459041420000000),
        ("2016-03-27 03:17:00", "Europe/Kyiv", 12345, None),
        ("2016-03-27 03:17:00.420000001 UTC", "Europe/Kyiv", 12345, 1459048620420000),
        ("2016-03-27 03:17:00.4200005 UTC", "Europe/Kyiv", 12345, 1459048620420001),
        ("2015-11-13 09:11:23.42", "Europe/Kyiv", 12345, 1447398683420000),
        ("2015-11-13 09:11:23.42/1.77", "Europe/Kyiv", 1447398683420000, 1447398685190000),
        ("2015-11-13 09:11:23.42/1.77", "Europe/Kyiv", 1447398683419999, 1447398683420000),
        ("Sun 16:00:00", "Europe/Berlin", 1456041600123456, 1456066800000000),
        ("Mon 2017-05~07/1 UTC", "UTC", 12345, 1496016000000000),
        ("2016-12-* 3..21/6:00 UTC", "UTC", 1482613200000001, 1482634800000000),
        ("2017-09-24 02:30:00 Pacific/Auckland", "UTC", 12345, None),
        ("2017-04-02 02:30:00 Pacific/Auckland", "UTC", 1491053400000000, None),
        ("Sun *-*-* 01:00:00 Europe/Dublin", "UTC", 1616412478000000, 1617494400000000),
    ],
)
def test_next_elapse_microseconds(text: str, tz: str, after: int, expected: int | None) -> None:
    zone = ZoneInfo(tz)
    assert parse_calendar(text, zone).next_elapse(after, zone) == expected


def _garbage(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    pieces = [*"0123456789*-~:.,/ ", "Mon", "fri", "..", "UTC", "@", "00", "59", "31", "~1", "2024", "Europe/Berlin",
              "CET", "daily", ".5", "/0.25"]  # fmt: skip
    return ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 12))) for _ in range(count)]


@needs_oracle
def test_oracle_garbage() -> None:
    """Random strings of calendar tokens: mostly refusals, which must be the same refusals."""
    problems = _compare(_garbage(5, 1500), "Europe/Berlin", base_usec("2024-10-27 00:10:00"))
    assert not problems, "\n".join(problems[:20])
