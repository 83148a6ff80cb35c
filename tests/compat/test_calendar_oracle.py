"""systemd-analyze calendar as an oracle, and the expression corpus the tests feed it (no tests here)."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from compat.calendar import CalendarError, parse_calendar

SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
ITERATIONS = 5


@dataclass
class Outcome:
    """What one expression gives: an error message, or the normalized form and elapses (UTC, seconds)."""

    error: str | None = None
    normalized: str | None = None
    elapses: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        if self.error is not None:
            return f"error {self.error}"
        return f"{self.normalized} | {', '.join(self.elapses)}"


def _utc_text(usec: int) -> str:
    return datetime.fromtimestamp(usec // 1_000_000, UTC).strftime("%a %Y-%m-%d %H:%M:%S UTC")


def ours(expr: str, tz: str, base_usec: int, iterations: int = ITERATIONS) -> Outcome:
    zone = ZoneInfo(tz)
    try:
        spec = parse_calendar(expr, zone)
    except CalendarError as e:
        return Outcome(error=f"parse: {e}")
    out = Outcome(normalized=spec.normalized())
    try:
        out.elapses = [_utc_text(u) for u in spec.iterations(base_usec, iterations, zone)]
    except CalendarError as e:
        return Outcome(error=f"next: {e}")
    if not out.elapses:
        out.elapses = ["never"]
    return out


def oracle(exprs: list[str], tz: str, base_usec: int, iterations: int = ITERATIONS) -> list[Outcome]:
    """Run systemd-analyze once for all expressions (TZ=tz, --base-time) and split its answer."""
    assert SYSTEMD_ANALYZE is not None
    assert base_usec % 1_000_000 == 0
    env = dict(os.environ, TZ=f":{tz}", LC_ALL="C", COLUMNS="100000", SYSTEMD_COLORS="0")
    proc = subprocess.run(
        [SYSTEMD_ANALYZE, "calendar", f"--iterations={iterations}", f"--base-time=@{base_usec // 1_000_000}",
         "--", *exprs],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    failures: list[tuple[str, str]] = []
    for line in proc.stderr.splitlines():
        for prefix, kind in (("Failed to parse calendar specification '", "parse"),
                             ("Failed to determine next elapse for '", "next")):  # fmt: skip
            if line.startswith(prefix):
                quoted, _, message = line[len(prefix) :].rpartition("': ")
                failures.append((quoted, f"{kind}: {message}"))
    lines = proc.stdout.split("\n")
    pos = 0
    results: list[Outcome] = []
    for i, expr in enumerate(exprs):
        if failures and failures[0][0] == expr:
            results.append(Outcome(error=failures.pop(0)[1]))
        else:
            out = Outcome()
            pending_local: str | None = None
            while pos < len(lines) and lines[pos] != "":
                label, _, value = lines[pos].strip().partition(": ")
                value = value.strip()
                pos += 1
                if label == "Normalized form":
                    out.normalized = value
                elif label == "Next elapse" or label.startswith("Iter. #"):
                    if value == "never":
                        out.elapses.append("never")
                    else:
                        pending_local = value
                        out.elapses.append(value)
                elif label == "(in UTC)" and pending_local is not None:
                    out.elapses[-1] = value
            results.append(out)
        if i + 1 < len(exprs):
            assert lines[pos] == "", (expr, lines[pos - 3 : pos + 3])
            pos += 1
    assert not failures, failures
    return results


# ---------------------------------------------------------------------------------------------
# Corpus

FEATURES = [
    # shorthands, any case, with zones
    "minutely", "hourly", "daily", "weekly", "monthly", "quarterly", "semiannually", "semi-annually",
    "biannually", "bi-annually", "yearly", "annually", "anually", "DAILY", "Weekly UTC", "hourly utc",
    "daily Asia/Tokyo", "monthly America/New_York", "quarterly Europe/Berlin", "yearly Australia/Lord_Howe",
    "minutelyy", "daily,", "hourly Mars/Olympus",
    # weekdays
    "Mon", "monday", "MONDAY", "Mon..Fri", "Mon-Fri", "Sat,Sun", "Sat..Sun", "Sat,Thu,Mon-Wed,Sat-Sun",
    "Wed..Wed,Wed *-1", "Wed, 17:48", "Wednesday,", "Fri..Mon", "Mon..", "Mon.. 12:00", "Mon,", "Mon,,Tue",
    "Mon..Tue..Wed", "Mon-Tue-Wed", "Mond", "Mon.Tue", "Mon..Sun", "Tue,Wed,Thu,Fri,Sat,Sun,Mon",
    "Thu 2024-*-01..07 12:00", "Fri *-*-13", "Sun *-*-* 02:30", "Mon *-02-29", "Sat,Sun 08:05:40",
    "Mon 2017-05~01..07 UTC", "Mon 2017-05~07/1 UTC", "Mon,5", "Mon 5",
    # dates
    "2024-03-31", "24-03-31", "69-01-01", "70-01-01", "99-12-31", "00..07-*-*", "93..00-*-*", "1969-12-31",
    "2199-12-31 23:59:59", "2200-01-01", "*-*-*", "*-*", "10-15", "*-12-*", "*-*-31", "*-02-29", "*-02-30",
    "*-04-31", "*-*-7 0:0:0", "2003-03-05 05:40", "03-05 08:05:40", "*-1/2-1,3", "*-01/7-01 04:00:00",
    "*-*-01/5 04:00:00", "2016-12-* 3..21/6:00", "12..1/2-*", "*-*-0", "*-13-01", "*-*-32", "*-0-1",
    "2024-02-29 12:00", "2023-02-29", "2024-1-1", "2024--01", "2024-01-01-", "2000-03-05.23 00:00:00",
    "2016~11-22", "2016- 11- 24 12: 30: 00", "*-*-* *-*", "**-*-*", "*5-*-*", "2024-*/3-1",
    # end of month
    "*-*~1", "*-*~01 UTC", "*-*~05,3 ", "*-*~* 00:00:00", "*~03/1,03..05", "*-*~5/5", "*~29", "*~28",
    "*~16..31", "*-02~1", "*-02~4", "2016-02~01 UTC", "*-*~1..7/2", "*-*~7/2", "*-*~3..1", "*-*~2,1 23:59",
    "Fri *-*~1..7 18:00", "*-*~1/1", "*-*~28/27", "*-02~28", "2024-*~1",
    # times
    "12:30", "5:40", "08:05:40", "*:*", "*:*:*", "12:*", "*:30", "*:0/15", "*-*-* *:00/15", "*:2/3",
    "*:20..39/5", "9..11,13:00,30", "12,14,13,12:20,10,30", "1..3-1..3 1..3:1..3", "*:4,30:0..3",
    "*:4,30:0/1", "*:4,30:0/1,3,5", "00:00:20..40/1", "*:05..05", "*:05..10/6", "*:58/5", "*:55/4",
    "23:59:59", "24:00", "12:60", "12:00:60", "12:00:59.999999", "12:00:59.9999995", "0:0:0.5",
    "*:*:0/0.5", "*:*:0.25/0.25", "*:*:00/0.000001", "00:00:00/0.00000001", "*:*:1.125..2.125",
    "00:00:1.0..3.8", "00:00:00.0..00.9", "*:*:1..3/0.5", "00:00:2300", "00:00:18446744073709551615",
    "*:4,30:*,5", "*:4,30:5,*", "12", "7", "121212:1:2", "2000-03-05 00:00.1:00", "-00:+00/-5",
    "00:+00/-5", "20/4:00", "00:00/60", "*:*:60", "12:00:00:00", "12:", ":30", "12:30:", "1.5:00",
    "*:*:*.5", "*:*:1.", "*:*:1.x", "0..23/2:0", "*:0..59/10", "*:*:0..59/10", "18:00/0",
    # timestamps
    "@0", "@1493187147", "@1493187147 UTC", "@1493187147 Europe/Berlin", "@ 12", "@+12", "@-1",
    "@88588582097858858", "@9999999999", "@7258118400", "@", "@12x", "Mon @1711929600",
    "2015-10-25 01:00:00 uTc", "2015-10-25 01:00:00 Asia/Vladivostok", "2017-09-24 03:30:00 Pacific/Auckland",
    "2017-09-24 02:30:00 Pacific/Auckland", "2017-04-02 02:30:00 Pacific/Auckland",
    "Sun *-*-* 01:00:00 Europe/Dublin", "2016-03-27 03:17:00.4200005", "2016-03-27 03:17:00/0.42",
    "2015-11-13 09:11:23.42/1.77", "2016-03-27 03:17:00.420000001 UTC",
    # zones
    " utc", "UTC", "utc", "*-*-* 12:00 Etc/UTC", "12:00 Europe/Berlin", "12:00 europe/berlin",
    "12:00 Europe//Berlin", "12:00 /Europe/Berlin", "12:00 Europe/Berlin/", "12:00  UTC", "12:00 UTC ",
    "12:00 CET", "12:00 CEST", "12:00 EST", "12:00 EDT", "12:00 IST", "12:00 +1030", "12:00 +11",
    "02:30 CEST", "02:30 CET", "Mon 02:30 EDT", "12:00 GMT", "12:00 EST5EDT", "12:00 Asia/Kolkata",
    "*:0/30 Australia/Lord_Howe", "*-*-* 02:00..03:00/15 America/New_York", "", "    ", "\t12:00",
]  # fmt: skip

# Wall-clock times around the DST changes of the zones the oracle runs in.
DST_DAYS = ["2024-03-31", "2024-10-27", "2024-03-10", "2024-11-03", "2024-04-07", "2024-10-06", "2025-03-30"]
DST_TIMES = ["00:30", "01:00", "01:30", "01:59:59", "02:00", "02:15", "02:30", "02:45", "02:59:59", "03:00",
             "03:30", "1,2,3:0,30", "*:0/15", "*:0/20", "01..03:*/10"]  # fmt: skip


def dst_corpus() -> list[str]:
    out = []
    for day in DST_DAYS:
        for t in DST_TIMES:
            out.append(f"{day} {t}")
    for t in DST_TIMES:
        out.append(f"*-*-* {t}")
        out.append(f"Sun *-*-* {t}")
    return out


def _component(rng: random.Random, low: int, high: int, width: int) -> str:
    def num(v: int) -> str:
        return f"{v:0{width}d}" if rng.random() < 0.7 else str(v)

    kind = rng.random()
    a = rng.randint(low, high)
    if kind < 0.45:
        return num(a)
    if kind < 0.65:
        return f"{num(a)}/{rng.randint(1, max(1, (high - low) // 2))}"
    b = rng.randint(low, high)
    if kind < 0.85:
        return f"{num(min(a, b))}..{num(max(a, b))}"
    return f"{num(min(a, b))}..{num(max(a, b))}/{rng.randint(1, max(1, (high - low) // 3))}"


def _chain(rng: random.Random, low: int, high: int, width: int, star: float = 0.4) -> str:
    if rng.random() < star:
        return "*"
    return ",".join(_component(rng, low, high, width) for _ in range(rng.choice([1, 1, 1, 2, 3])))


def _seconds(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.3:
        return "*"
    if r < 0.5:
        return _chain(rng, 0, 59, 2, 0)
    whole = rng.randint(0, 59)
    frac = rng.choice(["", ".5", ".25", ".000001", ".1234567", ".9999995"])
    if r < 0.75:
        return f"{whole:02d}{frac}"
    step = rng.choice(["0.5", "1.5", "7", "15", "0.25", "20"])
    return f"{whole:02d}{frac}/{step}"


def random_corpus(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    days = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun", "monday", "Friday"]
    out = []
    for _ in range(count):
        parts = []
        if rng.random() < 0.3:
            a, b = sorted(rng.sample(range(7), 2))
            parts.append(rng.choice([days[a], f"{days[a]}..{days[b]}", f"{days[a]},{days[b]}", f"{days[a]}-{days[b]}"]))
        r = rng.random()
        if r < 0.7:
            year = _chain(rng, 2020, 2035, 4, 0.7) if rng.random() < 0.8 else _chain(rng, 20, 40, 2, 0)
            sep = "~" if rng.random() < 0.15 else "-"
            day = _chain(rng, 1, 28 if sep == "~" else 31, 2, 0.3)
            month = _chain(rng, 1, 12, 2, 0.5)
            parts.append(f"{year}-{month}{sep}{day}" if rng.random() < 0.6 else f"{month}{sep}{day}")
        if rng.random() < 0.85:
            time = f"{_chain(rng, 0, 23, 2)}:{_chain(rng, 0, 59, 2)}"
            if rng.random() < 0.6:
                time += ":" + _seconds(rng)
            parts.append(time)
        if not parts:
            parts.append("*-*-*")
        r = rng.random()
        if r < 0.15:
            parts.append("UTC")
        elif r < 0.3:
            parts.append(rng.choice(["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata",
                                     "Pacific/Auckland", "Europe/Dublin"]))  # fmt: skip
        out.append(" ".join(parts))
    return out


# Base times (UTC) for each zone: an ordinary one and half an hour before each DST change.
BASES: dict[str, list[str]] = {
    "UTC": ["2024-05-17 09:41:07", "2023-12-31 23:59:59"],
    "Europe/Berlin": ["2024-05-17 09:41:07", "2024-03-31 00:30:00", "2024-10-27 00:30:00"],
    "America/New_York": ["2024-05-17 09:41:07", "2024-03-10 06:30:00", "2024-11-03 05:30:00"],
    "Australia/Lord_Howe": ["2024-05-17 09:41:07", "2024-04-06 14:30:00", "2024-10-05 15:00:00"],
    "Asia/Kolkata": ["2024-05-17 09:41:07", "2024-02-28 18:00:00"],
}


def base_usec(text: str) -> int:
    return int(datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp()) * 1_000_000
