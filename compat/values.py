"""Scalar value syntaxes of unit files, as systemd 252 parses them.

Every parser is pure and raises ValueError with a short reason; the caller turns that into a
`file:line:` diagnostic and ignores the setting, as systemd does.
"""

from __future__ import annotations

import re
import resource
import signal

from compat.cint import c_integer
from compat.exitstatus import exit_status_from_string
from compat.model import USEC_INFINITY, USEC_PER_SEC, ExitStatusSet, ResourceLimit
from compat.words import Extract, split_words
from sysmasterd.timespan import (  # shared with devmaster, which ships without compat
    USEC_PER_DAY,
    USEC_PER_HOUR,
    USEC_PER_MINUTE,
    USEC_PER_MONTH,
    USEC_PER_MSEC,
    USEC_PER_WEEK,
    USEC_PER_YEAR,
)

_WHITESPACE = " \t\n\r"

# ---------------------------------------------------------------------------------------------
# Booleans

_TRUE = frozenset({"1", "yes", "y", "true", "t", "on"})
_FALSE = frozenset({"0", "no", "n", "false", "f", "off"})


def boolean_or_none(text: str) -> bool | None:
    """parse_boolean() for places where a bad word means "not said" (environment, kernel command line)."""
    try:
        return parse_boolean(text.strip())
    except ValueError:
        return None


def parse_boolean(text: str) -> bool:
    lowered = text.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError("Failed to parse boolean value")


# ---------------------------------------------------------------------------------------------
# Time spans


# Order matters: systemd takes the first suffix that matches, so "min" wins over "m" and "ms".
_TIME_UNITS: tuple[tuple[str, int], ...] = (
    ("seconds", USEC_PER_SEC), ("second", USEC_PER_SEC), ("sec", USEC_PER_SEC), ("s", USEC_PER_SEC),
    ("minutes", USEC_PER_MINUTE), ("minute", USEC_PER_MINUTE), ("min", USEC_PER_MINUTE),
    ("months", USEC_PER_MONTH), ("month", USEC_PER_MONTH), ("M", USEC_PER_MONTH),
    ("msec", USEC_PER_MSEC), ("ms", USEC_PER_MSEC), ("m", USEC_PER_MINUTE),
    ("hours", USEC_PER_HOUR), ("hour", USEC_PER_HOUR), ("hr", USEC_PER_HOUR), ("h", USEC_PER_HOUR),
    ("days", USEC_PER_DAY), ("day", USEC_PER_DAY), ("d", USEC_PER_DAY),
    ("weeks", USEC_PER_WEEK), ("week", USEC_PER_WEEK), ("w", USEC_PER_WEEK),
    ("years", USEC_PER_YEAR), ("year", USEC_PER_YEAR), ("y", USEC_PER_YEAR),
    ("usec", 1), ("us", 1), ("\u03bcs", 1), ("\u00b5s", 1),
)  # fmt: skip

_NUMBER = re.compile(r"\+?([0-9]*)(\.([0-9]*))?")


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _WHITESPACE:
        pos += 1
    return pos


def _parse_components(
    text: str, units: tuple[tuple[str, int], ...], default_unit: int, limit: int, *, sizes: bool = False
) -> int:
    """Sum of `number[.fraction][unit]` components, the shape shared by time spans and sizes."""
    total = 0
    something = False
    pos = 0
    while True:
        pos = _skip_ws(text, pos)
        if pos >= len(text):
            if not something:
                raise ValueError("empty value")
            return total
        if text[pos] == "-":
            raise ValueError("negative value")
        m = _NUMBER.match(text, pos)
        assert m is not None  # the pattern can match the empty string
        whole, dot, fraction = m.group(1), m.group(2), m.group(3) or ""
        if not whole and not dot:
            raise ValueError("not a number")
        pos = m.end()
        multiplier = default_unit
        upos = _skip_ws(text, pos)
        matched = False
        for suffix, factor in units:
            if text.startswith(suffix, upos):
                multiplier = factor
                upos += len(suffix)
                matched = True
                break
        if not matched and upos == pos and pos < len(text):
            raise ValueError("unknown unit")
        pos = upos
        value = int(whole or "0") * multiplier
        if sizes:
            # parse_size() scales the fraction as a double and accepts "10.M".
            value += int(float("0." + (fraction or "0")) * multiplier)
        else:
            step = multiplier // 10
            for digit in fraction:
                value += int(digit) * step
                step //= 10
            if dot and not fraction:
                raise ValueError("missing digits after '.'")
        total += value
        if total >= limit:
            raise ValueError("value out of range")
        something = True


def parse_timespan(text: str, default_unit: int = USEC_PER_SEC) -> int:
    """`1min 30s`, `500ms`, `2h`, bare numbers in `default_unit`; `infinity` -> USEC_INFINITY."""
    stripped = text.strip(_WHITESPACE)
    if stripped.startswith("infinity"):
        if stripped != "infinity":
            raise ValueError("Failed to parse time span")
        return USEC_INFINITY
    try:
        return _parse_components(text, _TIME_UNITS, default_unit, USEC_INFINITY)
    except ValueError as e:
        raise ValueError("Failed to parse time span") from e


def parse_sec_fix_0(text: str) -> int:
    """Timeouts where 0 means "no timeout" (TimeoutStartSec=0 -> infinity), as systemd maps them."""
    value = parse_timespan(text)
    return USEC_INFINITY if value == 0 else value


# ---------------------------------------------------------------------------------------------
# Sizes

_SIZE_UNITS: tuple[tuple[str, int], ...] = (
    ("E", 1024**6), ("P", 1024**5), ("T", 1024**4), ("G", 1024**3), ("M", 1024**2), ("K", 1024), ("B", 1),
)  # fmt: skip
_SIZE_UNITS_1000 = tuple((suffix, 1000 ** _SIZE_UNITS[::-1].index((suffix, f))) for suffix, f in _SIZE_UNITS)
UINT64_MAX = (1 << 64) - 1


def parse_size(text: str, base: int = 1024) -> int:
    """Bytes with base-1024 (or, for IO bandwidths, base-1000) suffixes K, M, G, T, P, E (and B),
    fractions allowed: `1.5G`."""
    try:
        return _parse_components(text, _SIZE_UNITS if base == 1024 else _SIZE_UNITS_1000, 1, UINT64_MAX, sizes=True)
    except ValueError as e:
        raise ValueError("Failed to parse size value") from e


# ---------------------------------------------------------------------------------------------
# Integers, modes, signals, exit statuses


def parse_int(text: str, lo: int, hi: int, what: str = "integer value") -> int:
    try:
        value = c_integer(text)
    except ValueError:
        raise ValueError(f"Failed to parse {what}") from None
    if not lo <= value <= hi:
        raise ValueError(f"{what[0].upper()}{what[1:]} out of range")
    return value


def parse_unsigned(text: str) -> int:
    return parse_int(text, 0, (1 << 32) - 1, "unsigned integer value")


def parse_mode(text: str) -> int:
    """Octal file mode, at most 07777."""
    if not re.fullmatch(r"[0-7]+", text):
        raise ValueError("Failed to parse mode value")
    value = int(text, 8)
    if value > 0o7777:
        raise ValueError("Failed to parse mode value")
    return value


def _signal_numbers() -> dict[str, int]:
    names = {s.name[3:]: int(s) for s in signal.Signals if s.name.startswith("SIG") and "_" not in s.name}
    # Linux aliases that Python's enum folds into other names.
    names.update({"IOT": signal.SIGABRT, "POLL": signal.SIGIO, "CLD": signal.SIGCHLD})
    return names


_SIGNALS = _signal_numbers()
_SIGRTMIN = signal.SIGRTMIN
_SIGRTMAX = signal.SIGRTMAX
_NSIG = signal.NSIG


def signal_from_string(text: str) -> int:
    """`SIGKILL`, `KILL`, `RTMIN+3`, `SIGRTMAX-1` or a number 1..64."""
    if text.isascii() and text[:1].isdigit():  # safe_atoi(): strtol base 0, so 0x10 and 010 count
        try:
            number = c_integer(text)
        except ValueError:
            raise ValueError(f"Failed to parse signal '{text}'") from None
        if 0 < number < _NSIG:
            return number
        raise ValueError(f"Failed to parse signal '{text}'")
    name = text[3:] if text.startswith("SIG") else text
    if name in _SIGNALS:
        return _SIGNALS[name]
    m = re.fullmatch(r"RTM(IN|AX)(?:([+-])([0-9]+))?", name)
    if m:
        offset = int(m.group(3) or 0)
        if m.group(1) == "IN" and m.group(2) != "-" and _SIGRTMIN + offset <= _SIGRTMAX:
            return _SIGRTMIN + offset
        if m.group(1) == "AX" and m.group(2) != "+" and _SIGRTMAX - offset >= _SIGRTMIN:
            return _SIGRTMAX - offset
    raise ValueError(f"Failed to parse signal '{text}'")


def signal_name(number: int) -> str:
    for name, value in _SIGNALS.items():
        if value == number:
            return "SIG" + name
    if _SIGRTMIN <= number <= _SIGRTMAX:
        return f"SIGRTMIN+{number - _SIGRTMIN}"
    return str(number)


def parse_exit_status_set(text: str, into: ExitStatusSet) -> None:
    """SuccessExitStatus=-style lists, added to `into`; each word is validated before any is added."""
    statuses: set[int] = set()
    signals: set[int] = set()
    for word in text.split():
        try:
            statuses.add(exit_status_from_string(word))
            continue
        except ValueError:
            pass
        try:
            signals.add(signal_from_string(word))
        except ValueError:
            raise ValueError(f"Failed to parse exit status or signal '{word}'") from None
    into.statuses |= statuses
    into.signals |= signals


# ---------------------------------------------------------------------------------------------
# Resource limits

_SIZE_LIMITS = frozenset({"FSIZE", "DATA", "STACK", "CORE", "RSS", "AS", "MEMLOCK", "MSGQUEUE"})
RLIMIT_NAMES = (
    "CPU", "FSIZE", "DATA", "STACK", "CORE", "RSS", "NOFILE", "AS", "NPROC", "MEMLOCK", "LOCKS",
    "SIGPENDING", "MSGQUEUE", "NICE", "RTPRIO", "RTTIME",
)  # fmt: skip
RLIM_INFINITY = resource.RLIM_INFINITY


def _parse_rlimit_value(resource_name: str, text: str) -> int:
    if text == "infinity" and resource_name != "NICE":
        return RLIM_INFINITY
    if resource_name == "CPU":
        usec = parse_timespan(text)
        return RLIM_INFINITY if usec == USEC_INFINITY else -(-usec // USEC_PER_SEC)
    if resource_name == "RTTIME":
        usec = parse_timespan(text, default_unit=1)
        return RLIM_INFINITY if usec == USEC_INFINITY else usec
    if resource_name in _SIZE_LIMITS:
        return parse_size(text)
    if resource_name == "NICE" and text[:1] in "+-" and text[1:].isdigit():
        # A nice level: the kernel's RLIMIT_NICE ceiling is 20 - nice.
        nice = int(text)
        if not -20 <= nice <= 19:
            raise ValueError("Nice level out of range")
        return 20 - nice
    try:
        value = c_integer(text, signed=False)
    except ValueError:
        raise ValueError("Failed to parse resource value") from None
    if resource_name == "NICE" and value > 40:
        raise ValueError("Nice limit out of range")
    return value


def parse_rlimit(resource_name: str, text: str) -> ResourceLimit:
    """`LimitNOFILE=1024:4096`, `LimitCORE=infinity`, `LimitAS=4G`: a single value sets both."""
    soft_text, colon, hard_text = text.partition(":")
    soft = _parse_rlimit_value(resource_name, soft_text)
    hard = _parse_rlimit_value(resource_name, hard_text) if colon else soft
    if hard != RLIM_INFINITY and (soft == RLIM_INFINITY or soft > hard):
        raise ValueError("Soft resource limit chosen higher than hard limit")
    return ResourceLimit(soft, hard)


def parse_permyriad(text: str, *, bounded: bool = True) -> int:
    """`50%`, `12.5%`, `125‰`, `1250‱` -> parts per ten thousand (0..10000; CPUQuota= takes
    more than 100%: not `bounded`)."""
    m = re.fullmatch(r"([0-9]+)(?:\.([0-9]+))?(%|\u2030|\u2031)", text)
    if not m:
        raise ValueError("not a percentage")
    whole, fraction, sign = m.group(1), m.group(2) or "", m.group(3)
    digits = {"%": 2, "\u2030": 1, "\u2031": 0}[sign]
    if len(fraction) > digits:
        raise ValueError("too many decimals")
    value = int(whole + fraction.ljust(digits, "0"))
    if bounded and value > 10000:
        raise ValueError("percentage out of range")
    return value


# ---------------------------------------------------------------------------------------------
# CPU sets

def parse_cpu_set(text: str) -> list[int]:
    """`0-3 5,7`: CPU indexes, sorted and unique; ValueError(bad word)."""
    cpus: set[int] = set()
    for word in split_words(text, Extract.UNQUOTE, separators=" \t\n\r,"):
        first, dash, last = word.partition("-")
        try:
            lo = c_integer(first, signed=False)
            hi = c_integer(last, signed=False) if dash else lo
        except ValueError:
            raise ValueError(word) from None  # the offending word, as systemd reports it
        if hi < lo or hi >= 8192:
            raise ValueError(word)
        cpus.update(range(lo, hi + 1))
    return sorted(cpus)
