"""Calendar event expressions (`OnCalendar=`), as systemd 252 parses, prints and computes them.

The API a timer needs::

    from compat.calendar import CalendarError, parse_calendar, local_timezone

    spec = parse_calendar("Mon..Fri *-*-* 08:00 Europe/Berlin")   # raises CalendarError
    spec.normalized()        # "Mon..Fri *-*-* 08:00:00 Europe/Berlin" (systemd-analyze's "Normalized form:")
    spec.next_elapse(after)  # usec since the epoch of the first elapse strictly after `after`
                             # (usec int or aware datetime), or None when it never elapses again
    spec.iterations(after, 5)  # the next 5 elapses, like `systemd-analyze calendar --iterations=5`

`next_elapse()` follows `calendar_spec_next_usec()` of systemd 252 step by step, including the
way it leans on glibc's mktime(): a wall-clock time that falls into a DST gap moves forward by
the size of the gap, an ambiguous time in a DST overlap elapses once (at its first occurrence
the search reaches), `~` counts days from the end of the month, years stop at 2199.
Expressions without a timezone use the local timezone: pass `local_tz` (a tzinfo such as
`ZoneInfo("Europe/Berlin")`) to `parse_calendar()` and `next_elapse()`, or let them call
`local_timezone()` ($TZ, else /etc/localtime). `UTC` and zone names (`Asia/Tokyo`) in the
expression take precedence. The local zone's two abbreviations (`CET`, `CEST`) are accepted as
suffix too: they force standard or daylight time, as in systemd.

Failures: `parse_calendar()` raises `CalendarError` (a ValueError) whose `errno_name` is what
systemd returns (EINVAL, ERANGE, ENOBUFS) and whose `str()` is systemd's message text ("Invalid
argument"). `next_elapse()` raises `CalendarError` only where systemd reports an error other than
"never elapses": EDEADLK after 1000 search steps, EINVAL for a start beyond year 9999. systemd's
timer skips such an expression like one that never elapses.

Pure: no I/O except the zoneinfo lookups of `zoneinfo.ZoneInfo` and `local_timezone()`.
"""

from __future__ import annotations

import errno as _errno
import os
import time as _time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

USEC_PER_SEC = 1_000_000

_MIN_YEAR = 1970
_MAX_YEAR = 2199
_COMPONENTS_MAX = 240
_INT_MAX = 2**31 - 1
_ULONG_MAX = 2**64 - 1
_ALL_WEEKDAYS = 127
_FORMATTABLE_MAX_USEC = 253_402_214_399_000_000
_MAX_SEARCH_STEPS = 1000
_WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
# Long names first: "Monday" must win over its prefix "Mon".
_WEEKDAY_WORDS = tuple(
    (word, nr)
    for nr, (long, short) in enumerate(
        (("monday", "mon"), ("tuesday", "tue"), ("wednesday", "wed"), ("thursday", "thu"),
         ("friday", "fri"), ("saturday", "sat"), ("sunday", "sun"))
    )
    for word in (long, short)
)  # fmt: skip


class CalendarError(ValueError):
    """An expression systemd refuses, or a computation it gives up on."""

    def __init__(self, errno_name: str, text: str = "") -> None:
        self.errno_name = errno_name
        self.text = text
        super().__init__(os.strerror(getattr(_errno, errno_name)))


def _fail(errno_name: str = "EINVAL") -> CalendarError:
    return CalendarError(errno_name)


@dataclass(frozen=True, slots=True)
class CalendarComponent:
    """One element of a comma list: `start[..stop][/repeat]`; stop -1 means open-ended.

    Seconds are kept in microseconds, like systemd, so `1.5` is start=1500000.
    """

    start: int
    stop: int = -1
    repeat: int = 0


Chain = tuple[CalendarComponent, ...]  # empty: "*" (every value)


@dataclass(frozen=True, slots=True)
class CalendarSpec:
    weekdays: int  # bit 0 = Monday; -1 = any day
    end_of_month: bool  # the day chain counts from the end of the month ("~")
    utc: bool
    dst: int  # -1, or 0/1 when the local standard/daylight abbreviation was given
    dst_name: str  # that abbreviation, as the normalized form shows it
    timezone: str | None  # a zone name other than UTC
    year: Chain
    month: Chain
    day: Chain
    hour: Chain
    minute: Chain
    second: Chain  # microseconds; never empty ("*" is 0/1s)

    def normalized(self) -> str:
        return _format_spec(self)

    def next_elapse(self, after: int | datetime, local_tz: tzinfo | None = None) -> int | None:
        """First elapse strictly after `after` (usec since the epoch), None if there is none."""
        if isinstance(after, datetime):
            if after.tzinfo is None:
                raise ValueError("naive datetime: give a timezone")
            usec = (after - _EPOCH) // timedelta(microseconds=1)
        else:
            usec = after
        if usec < 0:
            raise ValueError("negative time")
        if self.utc:
            zone: tzinfo | None = None
        elif self.timezone is not None:
            zone = ZoneInfo(self.timezone)
        else:
            zone = local_tz if local_tz is not None else local_timezone()
        return _next_usec(self, usec, _Clock(zone))

    def iterations(self, after: int | datetime, count: int, local_tz: tzinfo | None = None) -> Iterator[int]:
        """Up to `count` successive elapses after `after`, each computed from the previous one."""
        current: int | datetime = after
        for _ in range(count):
            nxt = self.next_elapse(current, local_tz)
            if nxt is None:
                return
            yield nxt
            current = nxt


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# ---------------------------------------------------------------------------------------------
# Timezones


def _zone_from_tz_value(value: str) -> tzinfo:
    name = value[1:] if value.startswith(":") else value
    if not name:
        return UTC
    if name.startswith("/"):
        try:
            with open(name, "rb") as f:
                return ZoneInfo.from_file(f, key=name)
        except OSError:
            return UTC
    try:
        return ZoneInfo(name)
    except Exception:  # glibc falls back to UTC for anything it cannot load
        return UTC


def local_timezone() -> tzinfo:
    """The zone glibc's localtime() uses: $TZ if set (empty means UTC), else /etc/localtime."""
    value = os.environ.get("TZ")
    if value is not None:
        return _zone_from_tz_value(value)
    try:
        target = os.readlink("/etc/localtime")
    except OSError:
        target = ""
    marker = "zoneinfo/"
    if marker in target:
        try:
            return ZoneInfo(target.split(marker, 1)[1])
        except Exception:
            pass
    return _zone_from_tz_value("/etc/localtime")


def local_abbreviations(zone: tzinfo, year: int | None = None) -> tuple[str, str]:
    """glibc's tzname[0], tzname[1] for `zone`: its current standard and daylight abbreviations.

    glibc takes them from the rule in force at the last converted time; January and July of the
    current year stand for that, whichever of the two is not daylight time being the standard.
    Without daylight time both names are the standard one, as glibc sets them.
    """
    if year is None:
        year = _time.gmtime().tm_year
    samples = [datetime(year, month, 1, 12, tzinfo=UTC).astimezone(zone) for month in (1, 7)]
    std = [d.tzname() or "" for d in samples if not d.dst()]
    dst = [d.tzname() or "" for d in samples if d.dst()]
    if not std:
        std = dst
    if not dst:
        dst = std
    return std[0], dst[0]


def _timezone_is_valid(name: str) -> bool:
    if not name:
        return False
    if name == "UTC":
        return True
    if name.startswith("/") or name.endswith("/") or "//" in name or len(name) >= 4096:
        return False
    if not all(c.isascii() and (c.isalnum() or c in "-_+/") for c in name):
        return False
    try:
        ZoneInfo(name)
    except Exception:
        return False
    return True


# ---------------------------------------------------------------------------------------------
# Parsing


def _lower(text: str) -> str:
    # strcasecmp folds ASCII only; str.lower() would also change the length of some letters.
    return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in text)


class _Draft:
    """The spec while it is being parsed: chains are lists in text order."""

    def __init__(self) -> None:
        self.weekdays = 0
        self.end_of_month = False
        self.utc = False
        self.dst = -1
        self.timezone: str | None = None
        self.year: list[CalendarComponent] = []
        self.month: list[CalendarComponent] = []
        self.day: list[CalendarComponent] = []
        self.hour: list[CalendarComponent] = []
        self.minute: list[CalendarComponent] = []
        self.second: list[CalendarComponent] = []


class _Text:
    """A cursor over the expression; reading past the end gives "" like a C string's NUL."""

    def __init__(self, text: str) -> None:
        self.s = text
        self.pos = 0

    def at(self, offset: int = 0) -> str:
        i = self.pos + offset
        return self.s[i] if i < len(self.s) else ""

    def skip_spaces(self) -> None:
        while self.at() == " ":
            self.pos += 1


def _parse_weekdays(t: _Text, d: _Draft) -> None:
    first = True
    range_from = -1
    while True:
        rest = _lower(t.s[t.pos : t.pos + 9])
        found = next(((w, n) for w, n in _WEEKDAY_WORDS if rest.startswith(w)), None)
        if found is None:
            # No weekday here: the expression starts with the date (but "Mon,5" is wrong).
            if first:
                return
            raise _fail()
        word, nr = found
        if t.at(len(word)) not in ("", "-", ".", ",", " "):
            raise _fail()
        d.weekdays |= 1 << nr
        if range_from >= 0:
            if range_from > nr:
                raise _fail()
            for j in range(range_from + 1, nr):
                d.weekdays |= 1 << j
        t.pos += len(word)
        c = t.at()
        if c == "":
            return
        if c == " ":
            t.skip_spaces()
            return
        if c == ".":
            if range_from >= 0 or t.at(1) != ".":
                raise _fail()
            range_from = nr
            t.pos += 2
        elif c == "-":  # the old range syntax
            if range_from >= 0:
                raise _fail()
            range_from = nr
            t.pos += 1
        elif c == ",":
            range_from = -1
            t.pos += 1
        if t.at() in ("", " "):
            t.skip_spaces()
            if range_from >= 0:
                raise _fail()  # "Mon.." is an open range; a trailing comma is fine
            return
        first = False


def _strtoul(t: _Text) -> int:
    """Digits at the cursor (caller checked there is one); ERANGE beyond unsigned long."""
    start = t.pos
    while t.at().isdigit() and t.at().isascii():
        t.pos += 1
    value = int(t.s[start : t.pos])
    if value > _ULONG_MAX:
        raise _fail("ERANGE")
    return value


def _parse_decimal(t: _Text, usec: bool) -> int:
    c = t.at()
    if not (c.isascii() and c.isdigit()):
        raise _fail()
    value = _strtoul(t)
    if usec:
        value *= USEC_PER_SEC
        if value > _ULONG_MAX:
            raise _fail("ERANGE")
        if t.at() == "." and t.at(1) != ".":  # "1.5" is a fraction, "1..5" a range
            t.pos += 1
            value += _parse_fraction(t)
            if value > _ULONG_MAX:
                raise _fail("ERANGE")
    if value > _INT_MAX:
        raise _fail("ERANGE")
    return value


def _parse_fraction(t: _Text) -> int:
    """Six digits of microseconds, rounded on the seventh, further digits ignored."""
    digits = ""
    while len(digits) < 6 and t.at().isascii() and t.at().isdigit():
        digits += t.at()
        t.pos += 1
    if not digits:
        raise _fail()
    value = int(digits.ljust(6, "0"))
    if "5" <= t.at() <= "9":
        value += 1
    while t.at().isascii() and t.at().isdigit():
        t.pos += 1
    return value


def _parse_components(t: _Text, usec: bool) -> list[CalendarComponent]:
    chain: list[CalendarComponent] = []
    while True:
        if len(chain) > _COMPONENTS_MAX:
            raise _fail("ENOBUFS")
        start = _parse_decimal(t, usec)
        stop = -1
        repeat = 0
        if t.at() == "." and t.at(1) == ".":
            t.pos += 2
            stop = _parse_decimal(t, usec)
            repeat = USEC_PER_SEC if usec else 1
        if t.at() == "/":
            t.pos += 1
            repeat = _parse_decimal(t, usec)
            if repeat == 0:
                raise _fail("ERANGE")
        else:
            if start > _INT_MAX - repeat:
                raise _fail("ERANGE")
            # A range of seconds steps by whole seconds unless told otherwise: "0.0..0.9" is empty.
            if usec and stop >= 0 and start + repeat > stop:
                raise _fail()
        if t.at() not in ("", " ", ",", "-", "~", ":"):
            raise _fail()
        chain.append(CalendarComponent(start, stop, repeat))
        if t.at() != ",":
            return chain
        t.pos += 1


def _parse_chain(t: _Text, usec: bool) -> list[CalendarComponent]:
    if t.at() == "*":
        t.pos += 1
        return [CalendarComponent(0, -1, USEC_PER_SEC)] if usec else []
    return _parse_components(t, usec)


def _from_timestamp(d: _Draft, seconds: int) -> None:
    try:
        when = _EPOCH + timedelta(seconds=seconds)
    except OverflowError:
        raise _fail("ERANGE") from None
    d.utc = True
    d.year = [CalendarComponent(when.year)]
    d.month = [CalendarComponent(when.month)]
    d.day = [CalendarComponent(when.day)]
    d.hour = [CalendarComponent(when.hour)]
    d.minute = [CalendarComponent(when.minute)]
    d.second = [CalendarComponent(when.second * USEC_PER_SEC)]


def _parse_epoch_seconds(t: _Text) -> int:
    """strtoul() after "@": leading blanks and a sign are allowed, "-1" wraps around."""
    while t.at() in (" ", "\t", "\n", "\v", "\f", "\r") and t.at():
        t.pos += 1
    negative = False
    if t.at() in ("+", "-"):
        negative = t.at() == "-"
        t.pos += 1
    if not (t.at().isascii() and t.at().isdigit()):
        raise _fail()
    value = _strtoul(t)
    if negative:
        value = (-value) & _ULONG_MAX
    # time_t is signed: the unsigned value is reinterpreted.
    return value - 2**64 if value >= 2**63 else value


def _parse_date(t: _Text, d: _Draft) -> bool:
    """The date part; True when it was a "@timestamp", which leaves no time to parse."""
    if t.at() == "":
        return False
    if t.at() == "@":
        t.pos += 1
        seconds = _parse_epoch_seconds(t)
        approx_year = 1970 + seconds // 31_556_952
        if approx_year > _INT_MAX or approx_year - 1900 < -(2**31):
            raise _fail("ERANGE")  # gmtime() cannot hold the year
        if not 1 <= approx_year <= 9999:
            raise _fail()  # a year gmtime() holds but the validity check refuses
        _from_timestamp(d, seconds)
        return True
    saved = t.pos
    first = _parse_chain(t, False)
    if t.at() in ("", ":"):
        t.pos = saved  # a time, not a date: parse it again as hours
        return False
    if t.at() == "~":
        d.end_of_month = True
    elif t.at() != "-":
        raise _fail()
    t.pos += 1
    second = _parse_chain(t, False)
    if t.at() in ("", " "):
        t.skip_spaces()
        d.month, d.day = first, second
        return False
    if d.end_of_month:
        raise _fail()
    if t.at() == "~":
        d.end_of_month = True
    elif t.at() != "-":
        raise _fail()
    t.pos += 1
    third = _parse_chain(t, False)
    if t.at() not in ("", " "):
        raise _fail()
    t.skip_spaces()
    d.year, d.month, d.day = first, second, third
    return False


def _parse_time(t: _Text, d: _Draft) -> None:
    if t.at() == "":
        d.hour = [CalendarComponent(0)]
        d.minute = [CalendarComponent(0)]
        d.second = [CalendarComponent(0)]
        return
    hour = _parse_chain(t, False)
    if t.at() != ":":
        raise _fail()
    t.pos += 1
    minute = _parse_chain(t, False)
    if t.at() == "":
        second = [CalendarComponent(0)]
    else:
        if t.at() != ":":
            raise _fail()
        t.pos += 1
        second = _parse_chain(t, True)
        if t.at() != "":
            raise _fail()
    d.hour, d.minute, d.second = hour, minute, second


_SHORTHANDS: dict[str, tuple[int, tuple[int, ...] | None, tuple[int, ...] | None, bool, bool]] = {
    # name: (weekdays, months, days, hour set, minute set); None leaves the field "*"
    "minutely": (0, None, None, False, False),
    "hourly": (0, None, None, False, True),
    "daily": (0, None, None, True, True),
    "monthly": (0, None, (1,), True, True),
    "weekly": (1, None, None, True, True),
    "yearly": (0, (1,), (1,), True, True),
    "annually": (0, (1,), (1,), True, True),
    "anually": (0, (1,), (1,), True, True),
    "quarterly": (0, (1, 4, 7, 10), (1,), True, True),
    "semiannually": (0, (1, 7), (1,), True, True),
    "semi-annually": (0, (1, 7), (1,), True, True),
    "biannually": (0, (1, 7), (1,), True, True),
    "bi-annually": (0, (1, 7), (1,), True, True),
}


def _split_zone(text: str, d: _Draft, local_tz: tzinfo) -> tuple[str, str]:
    """Strip a trailing " UTC", local abbreviation or zone name; returns (rest, abbreviation)."""
    lowered = _lower(text)
    if lowered.endswith(" utc"):
        d.utc = True
        return text[:-4], ""
    for j, abbreviation in enumerate(local_abbreviations(local_tz)):
        if not abbreviation:
            continue
        n = len(abbreviation)
        if lowered.endswith(_lower(abbreviation)) and len(text) > n and text[-n - 1] == " ":
            d.dst = j
            return text[: -n - 1], abbreviation
    space = text.rfind(" ")
    if space >= 0 and _timezone_is_valid(text[space + 1 :]):
        d.timezone = text[space + 1 :]
        return text[:space], ""
    return text, ""


def parse_calendar(text: str, local_tz: tzinfo | None = None) -> CalendarSpec:
    """Parse an OnCalendar= expression; raises CalendarError where systemd 252 refuses it."""
    text = text.split("\0", 1)[0]  # C sees the string up to the first NUL
    if local_tz is None:
        local_tz = local_timezone()
    d = _Draft()
    text, dst_name = _split_zone(text, d, local_tz)
    if not text:
        raise _fail()
    shorthand = _SHORTHANDS.get(_lower(text))
    if shorthand is not None:
        weekdays, months, days, hour, minute = shorthand
        d.weekdays = weekdays
        d.month = [CalendarComponent(m) for m in months or ()]
        d.day = [CalendarComponent(x) for x in days or ()]
        d.hour = [CalendarComponent(0)] if hour else []
        d.minute = [CalendarComponent(0)] if minute else []
        d.second = [CalendarComponent(0)]
    else:
        t = _Text(text)
        _parse_weekdays(t, d)
        if not _parse_date(t, d):
            _parse_time(t, d)
        if t.at() != "":
            raise _fail()
    return _finish(d, dst_name)


def _fix_year(chain: list[CalendarComponent]) -> list[CalendarComponent]:
    def fix(v: int) -> int:
        if 0 <= v < 70:
            return v + 2000
        if 70 <= v < 100:
            return v + 1900
        return v

    return [CalendarComponent(fix(c.start), fix(c.stop), c.repeat) for c in chain]


def _normalize_chain(chain: list[CalendarComponent]) -> Chain:
    fixed = []
    for c in chain:
        start, stop, repeat = c.start, c.stop, c.repeat
        if stop > start and repeat > 0:
            stop -= (stop - start) % repeat  # the range ends on its last elapse
        if (stop > start and repeat > 0 and start + repeat > stop) or start == stop:
            repeat, stop = 0, -1  # a repetition that never repeats is a single value
        fixed.append(CalendarComponent(start, stop, repeat))
    return tuple(sorted(set(fixed), key=lambda c: (c.start, c.stop, c.repeat)))


def _chain_valid(chain: Chain, low: int, high: int, end_of_month: bool = False) -> bool:
    for c in chain:
        if end_of_month:
            # "~" reaches back at most 28 days; systemd takes 3 more off for every further list
            # element (its recursion reapplies the cut), so "*-*~15,28" is refused.
            high -= 3
        if not low <= c.start <= high:
            return False
        if c.repeat > high - low:
            return False
        if c.stop >= 0:
            if not low <= c.stop <= high or c.start + c.repeat > c.stop:
                return False
        elif end_of_month:
            if c.start - c.repeat < low:
                return False
        elif c.start + c.repeat > high:
            return False
    return True


def _finish(d: _Draft, dst_name: str) -> CalendarSpec:
    if d.timezone == "UTC":
        d.utc, d.timezone = True, None
    weekdays = d.weekdays if 0 < d.weekdays < _ALL_WEEKDAYS else -1
    end_of_month = d.end_of_month and bool(d.day)
    spec = CalendarSpec(
        weekdays=weekdays,
        end_of_month=end_of_month,
        utc=d.utc,
        dst=d.dst,
        dst_name=dst_name,
        timezone=d.timezone,
        year=_normalize_chain(_fix_year(d.year)),
        month=_normalize_chain(d.month),
        day=_normalize_chain(d.day),
        hour=_normalize_chain(d.hour),
        minute=_normalize_chain(d.minute),
        second=_normalize_chain(d.second),
    )
    valid = (
        _chain_valid(spec.year, _MIN_YEAR, _MAX_YEAR)
        and _chain_valid(spec.month, 1, 12)
        and _chain_valid(spec.day, 1, 31, spec.end_of_month)
        and _chain_valid(spec.hour, 0, 23)
        and _chain_valid(spec.minute, 0, 59)
        and _chain_valid(spec.second, 0, 60 * USEC_PER_SEC - 1)
    )
    if not valid:
        raise _fail()
    return spec


# ---------------------------------------------------------------------------------------------
# Normalized form


def _format_weekdays(bits: int) -> str:
    parts: list[str] = []
    run_start = -1
    for x in range(8):
        on = x < 7 and bool(bits & (1 << x))
        if on and run_start < 0:
            run_start = x
        elif not on and run_start >= 0:
            last = x - 1
            if last == run_start:
                parts.append(_WEEKDAY_NAMES[run_start])
            elif last == run_start + 1:
                parts.append(f"{_WEEKDAY_NAMES[run_start]},{_WEEKDAY_NAMES[last]}")
            else:
                parts.append(f"{_WEEKDAY_NAMES[run_start]}..{_WEEKDAY_NAMES[last]}")
            run_start = -1
    return ",".join(parts)


def _format_chain(chain: Chain, width: int, usec: bool) -> str:
    unit = USEC_PER_SEC if usec else 1
    if not chain or (usec and any(c.start == 0 and c.stop < 0 and c.repeat == USEC_PER_SEC for c in chain)):
        return "*"

    def number(v: int, padded: bool = True) -> str:
        whole = f"{v // unit:0{width}d}" if padded else str(v // unit)
        return whole + (f".{v % unit:06d}" if v % unit else "")

    out = []
    for c in chain:
        s = number(c.start)
        if c.stop > 0:
            s += ".." + number(c.stop)
        # A range steps by one unit unless told otherwise, so "/1" goes without saying there.
        if c.repeat > 0 and not (c.stop > 0 and c.repeat == unit):
            s += "/" + number(c.repeat, padded=False)
        out.append(s)
    return ",".join(out)


def _format_spec(spec: CalendarSpec) -> str:
    out = ""
    if spec.weekdays > 0:
        out += _format_weekdays(spec.weekdays) + " "
    out += _format_chain(spec.year, 4, False) + "-" + _format_chain(spec.month, 2, False)
    out += ("~" if spec.end_of_month else "-") + _format_chain(spec.day, 2, False)
    out += " " + _format_chain(spec.hour, 2, False) + ":" + _format_chain(spec.minute, 2, False)
    out += ":" + _format_chain(spec.second, 2, True)
    if spec.utc:
        out += " UTC"
    elif spec.timezone is not None:
        out += " " + spec.timezone
    elif spec.dst in (0, 1) and spec.dst_name:
        out += " " + spec.dst_name
    return out


# ---------------------------------------------------------------------------------------------
# Next elapse
#
# systemd searches in broken-down time (struct tm) and lets mktime() normalise overflowing
# fields after every step; which instant an impossible or ambiguous wall-clock time becomes is
# decided by glibc's mktime(). _Clock reproduces that function (its probing, its preference in
# DST gaps, its search for a requested tm_isdst, and the offset guess it carries from one call
# to the next), so the search below can follow systemd's steps exactly.

_MONTH_START = (
    (0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334, 365),
    (0, 31, 60, 91, 121, 152, 182, 213, 244, 274, 305, 335, 366),
)


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _days_before_year(year: int) -> int:
    y = year - 1
    return 365 * y + y // 4 - y // 100 + y // 400


_EPOCH_DAYS = _days_before_year(1970)


def _wall_seconds(year: int, yday: int, hour: int, minute: int, sec: int) -> int:
    """Seconds since 1970 of a wall-clock time read as UTC; fields may be out of range."""
    days = _days_before_year(year + 1900) - _EPOCH_DAYS + yday
    return ((days * 24 + hour) * 60 + minute) * 60 + sec


class _Tm:
    """struct tm: year since 1900, month 0-11, isdst -1/0/1; wday and yday are outputs."""

    __slots__ = ("hour", "isdst", "mday", "min", "mon", "sec", "wday", "yday", "year")

    def __init__(
        self, year: int, mon: int, mday: int, hour: int, minute: int, sec: int, isdst: int = -1,
        wday: int = 0, yday: int = 0,
    ) -> None:  # fmt: skip
        self.year, self.mon, self.mday = year, mon, mday
        self.hour, self.min, self.sec = hour, minute, sec
        self.isdst, self.wday, self.yday = isdst, wday, yday

    def copy(self) -> _Tm:
        return _Tm(self.year, self.mon, self.mday, self.hour, self.min, self.sec, self.isdst, self.wday, self.yday)

    def assign(self, other: _Tm) -> None:
        for name in _Tm.__slots__:
            setattr(self, name, getattr(other, name))


def _isdst_differ(a: int, b: int) -> bool:
    return (not a) != (not b) and a >= 0 and b >= 0


_JAN1_ORDINAL = {y: datetime(y, 1, 1).toordinal() for y in range(1, 10000)}


class _Clock:
    """localtime()/mktime() in one zone, or gmtime()/timegm() when the zone is None."""

    def __init__(self, zone: tzinfo | None) -> None:
        self.zone = zone
        self.offset_guess = 0  # glibc keeps this between mktime() calls

    def convert(self, t: int) -> _Tm | None:
        try:
            if self.zone is None:
                dt = _EPOCH + timedelta(seconds=t)
                isdst = 0
            else:
                dt = datetime.fromtimestamp(t, self.zone)
                isdst = 1 if dt.dst() else 0
        except (OverflowError, ValueError, OSError):
            return None
        return _Tm(
            dt.year - 1900, dt.month - 1, dt.day, dt.hour, dt.minute, dt.second, isdst,
            (dt.weekday() + 1) % 7, dt.toordinal() - _JAN1_ORDINAL[dt.year],
        )  # fmt: skip

    def mktime(self, tm: _Tm) -> int:
        """Normalise `tm` in place and return its time, or -1 (tm untouched) on failure."""
        if self.zone is None:
            year = tm.year + tm.mon // 12
            mon = tm.mon % 12
            yday = _MONTH_START[_is_leap(year + 1900)][mon] - 1 + tm.mday
            t = _wall_seconds(year, yday, tm.hour, tm.min, tm.sec)
            out = self.convert(t)
            if out is None:
                return -1
            tm.assign(out)
            return t
        return self._mktime_local(tm)

    def _mktime_local(self, tm: _Tm) -> int:
        isdst = tm.isdst
        year = tm.year + tm.mon // 12
        mon = tm.mon % 12
        yday = _MONTH_START[_is_leap(year + 1900)][mon] - 1 + tm.mday
        hour, minute = tm.hour, tm.min
        sec_requested = tm.sec
        sec = min(max(tm.sec, 0), 59)  # probing assumes 60-second minutes

        wall = _wall_seconds(year, yday, hour, minute, sec)

        def diff(lt: _Tm) -> int:
            return wall - _wall_seconds(lt.year, lt.yday, lt.hour, lt.min, lt.sec)

        t0 = wall + self.offset_guess
        t = t1 = t2 = t0
        dst2 = 0
        probes_left = 6
        while True:
            lt = self.convert(t)
            if lt is None:
                return -1
            dt = diff(lt)
            if dt == 0:
                break
            if (
                t == t1
                and t != t2
                and (lt.isdst < 0 or (dst2 <= (lt.isdst != 0) if isdst < 0 else (isdst != 0) != (lt.isdst != 0)))
            ):
                # Oscillating around a spring-forward gap: take this side, as glibc does.
                return self._found(tm, t, wall, lt, sec, sec_requested)
            probes_left -= 1
            if probes_left == 0:
                return -1
            t1, t2, t, dst2 = t2, t, t + dt, int(lt.isdst != 0)

        if _isdst_differ(isdst, lt.isdst):
            # The requested isdst is not in force then: borrow the UTC offset of the nearest
            # time it is, probing outwards in steps shorter than any DST period on record.
            stride = 601_200
            bound = 536_454_000 // 2 + stride
            for delta in range(stride, bound, stride):
                for direction in (-1, 1):
                    ot = t + delta * direction
                    otm = self.convert(ot)
                    if otm is None:
                        return -1
                    if not _isdst_differ(isdst, otm.isdst):
                        gt = ot + diff(otm)
                        gtm = self.convert(gt)
                        if gtm is None:
                            return -1
                        return self._found(tm, gt, wall, gtm, sec, sec_requested)
            return -1
        return self._found(tm, t, wall, lt, sec, sec_requested)

    def _found(self, tm: _Tm, t: int, wall: int, lt: _Tm, sec: int, sec_requested: int) -> int:
        self.offset_guess = t - wall
        if sec_requested != lt.sec:
            # Out-of-range seconds were clamped for probing: add them back now.
            t += int(sec == 0 and lt.sec == 60) - sec + sec_requested
            adjusted = self.convert(t)
            if adjusted is None:
                return -1
            lt = adjusted
        tm.assign(lt)
        return t


class _NoMatch(Exception):
    pass


def _end_of_month_day(clock: _Clock, tm: _Tm, nth_last: int) -> int:
    t = tm.copy()
    t.mon += 1
    t.mday = 1 - nth_last
    if clock.mktime(t) < 0 or t.mon != tm.mon:
        return -1
    return t.mday


def _match(spec: CalendarSpec, clock: _Clock, chain: Chain, tm: _Tm, value: int, is_day: bool) -> tuple[int, int]:
    """Earliest value of `chain` >= `value`: (1 changed / 0 same / -1 none, new value)."""
    if not chain:
        return 0, value
    end_of_month = spec.end_of_month and is_day
    best = -1
    found = False
    for c in chain:
        if end_of_month:
            start = _end_of_month_day(clock, tm, c.start)
            stop = _end_of_month_day(clock, tm, c.stop)
            if stop > 0:
                start, stop = stop, start
        else:
            start, stop = c.start, c.stop
        if start >= value:
            if not found or start < best:
                best, found = start, True
        elif c.repeat > 0:
            k = start + c.repeat * -(-(value - start) // c.repeat)
            if (not found or k < best) and (stop < 0 or k <= stop):
                best, found = k, True
    if not found:
        return -1, value
    return int(best != value), best


def _within_bounds(clock: _Clock, tm: _Tm) -> int:
    """1: tm is a real time; 0: mktime moved it forward (tm updated); <0: error or backwards."""
    if tm.year + 1900 > _MAX_YEAR:
        return -1  # ERANGE: also what ends the search for impossible dates like Feb 31
    t = tm.copy()
    if clock.mktime(t) < 0:
        return -1
    # A carried-over field (Mar 33 -> Apr 2) resets the next smaller one, or we would skip Apr 1.
    if t.year != tm.year:
        cmp = (t.year > tm.year) - (t.year < tm.year)
        t.mon = 0
    elif t.mon != tm.mon:
        cmp = (t.mon > tm.mon) - (t.mon < tm.mon)
        t.mday = 1
    elif t.mday != tm.mday:
        cmp = (t.mday > tm.mday) - (t.mday < tm.mday)
        t.hour = 0
    elif t.hour != tm.hour:
        cmp = (t.hour > tm.hour) - (t.hour < tm.hour)
        t.min = 0
    elif t.min != tm.min:
        cmp = (t.min > tm.min) - (t.min < tm.min)
        t.sec = 0
    else:
        cmp = (t.sec > tm.sec) - (t.sec < tm.sec)
    if cmp < 0:
        return -2  # EDEADLK: never go backwards
    if cmp > 0:
        tm.assign(t)
    return int(cmp == 0)


def _weekday_ok(spec: CalendarSpec, clock: _Clock, tm: _Tm) -> bool:
    if spec.weekdays < 0 or spec.weekdays >= _ALL_WEEKDAYS:
        return True
    t = tm.copy()
    if clock.mktime(t) < 0:
        return False
    monday_based = 6 if t.wday == 0 else t.wday - 1
    return bool(spec.weekdays & (1 << monday_based))


def _find_next(spec: CalendarSpec, clock: _Clock, tm: _Tm, usec: int) -> tuple[_Tm, int] | None:
    c = tm.copy()
    tm_usec = usec
    keep_mktime_dst = False

    def reset_below(field: str) -> None:
        nonlocal tm_usec
        order = ("mon", "mday", "hour", "min", "sec")
        for name in order[order.index(field) :]:
            setattr(c, name, 1 if name == "mday" else 0)
        tm_usec = 0

    for _ in range(_MAX_SEARCH_STEPS):
        clock.mktime(c)
        if not keep_mktime_dst:
            c.isdst = spec.dst

        r, year = _match(spec, clock, spec.year, c, c.year + 1900, False)
        c.year = year - 1900
        if r > 0:
            reset_below("mon")
        if r < 0:
            return None
        if _within_bounds(clock, c) <= 0:
            return None

        r, mon = _match(spec, clock, spec.month, c, c.mon + 1, False)
        c.mon = mon - 1
        if r > 0:
            reset_below("mday")
        if r >= 0:
            r = _within_bounds(clock, c)
        if r < 0:
            c.year += 1
            reset_below("mon")
            continue
        if r == 0:
            continue

        r, c.mday = _match(spec, clock, spec.day, c, c.mday, True)
        if r > 0:
            reset_below("hour")
        if r >= 0:
            r = _within_bounds(clock, c)
        if r < 0:
            c.mon += 1
            reset_below("mday")
            continue
        if r == 0:
            continue

        if not _weekday_ok(spec, clock, c):
            c.mday += 1
            reset_below("hour")
            continue

        r, c.hour = _match(spec, clock, spec.hour, c, c.hour, False)
        if r > 0:
            reset_below("min")
        if r >= 0:
            r = _within_bounds(clock, c)
        if r < 0:
            c.mday += 1
            reset_below("hour")
            continue
        if r == 0:
            continue  # the hour may not exist (DST): start over from the normalised time

        r, c.min = _match(spec, clock, spec.minute, c, c.min, False)
        if r > 0:
            reset_below("sec")
        if r >= 0:
            r = _within_bounds(clock, c)
        if r < 0:
            c.hour += 1
            reset_below("min")
            continue
        if r == 0:
            continue

        r, value = _match(spec, clock, spec.second, c, c.sec * USEC_PER_SEC + tm_usec, False)
        c.sec, tm_usec = divmod(value, USEC_PER_SEC)
        if r >= 0:
            r = _within_bounds(clock, c)
        if r < 0:
            c.min += 1
            reset_below("sec")
            continue
        if r == 0:
            continue

        # Later 252 stable releases (Debian's 252.39 among them): a candidate not after the start means mktime() took
        # us back across a DST change (as Europe/Dublin's negative DST does); step an hour on
        # and let mktime() decide isdst from then on.
        start = (tm.year, tm.mon, tm.mday, tm.hour, tm.min, tm.sec, usec)
        if (c.year, c.mon, c.mday, c.hour, c.min, c.sec, tm_usec) < start:
            keep_mktime_dst = True
            c.hour += 1
            continue

        return c, tm_usec

    raise CalendarError("EDEADLK", _format_spec(spec))


def _next_usec(spec: CalendarSpec, usec: int, clock: _Clock) -> int | None:
    if usec > _FORMATTABLE_MAX_USEC:
        raise CalendarError("EINVAL")
    usec += 1
    tm = clock.convert(usec // USEC_PER_SEC)
    assert tm is not None  # bounded by the check above
    found = _find_next(spec, clock, tm, usec % USEC_PER_SEC)
    if found is None:
        return None
    result, tm_usec = found
    t = clock.mktime(result)
    if t < 0:
        raise CalendarError("EINVAL")
    return t * USEC_PER_SEC + tm_usec
