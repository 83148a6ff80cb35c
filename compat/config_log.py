"""How a unit's output and messages are logged: SyslogFacility=/SyslogLevel=/SyslogLevelPrefix=
(the stream header journald reads) and LogLevelMax=/LogExtraFields=/LogRateLimit*= (which
journald takes from the files the manager exports for the unit), parsed as systemd 252 does."""

from __future__ import annotations

from compat.cint import c_integer
from compat.model import UnitConfig
from compat.settings import Handler, Invalid, ParseContext, plain, setter, words
from compat.values import parse_boolean, parse_timespan, parse_unsigned
from compat.words import Extract

LOG_LEVELS = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")
# 12 to 15 have no name (numbers only)
LOG_FACILITIES: tuple[str | None, ...] = ("kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp",
                                          "cron", "authpriv", "ftp", None, None, None, None,
                                          *(f"local{n}" for n in range(8)))
LOG_FACMASK = 0x03F8
_FACILITY_MAX = LOG_FACMASK >> 3
JOURNAL_FIELD_MAX = 64


def _named_or_number(value: str, names: tuple[str | None, ...], highest: int) -> int:
    """A name from the table, else a number up to `highest` as safe_atou() reads it (`0x10`,
    `010`): systemd's string tables with a numeric fallback."""
    if value in names:
        return names.index(value)
    number = c_integer(value, signed=False)
    if number > highest:
        raise ValueError(value)
    return number


def log_level(value: str) -> int:
    return _named_or_number(value, LOG_LEVELS, len(LOG_LEVELS) - 1)


def _log_level(value: str, ctx: ParseContext) -> int:
    try:
        return log_level(value)
    except ValueError:
        raise Invalid("Failed to parse log level") from None


def _exec(cfg: UnitConfig) -> object:
    return cfg.exec


def _syslog_facility(cfg: UnitConfig, value: str, ctx: ParseContext) -> None:
    try:
        facility = _named_or_number(value, LOG_FACILITIES, _FACILITY_MAX)
    except ValueError:
        raise Invalid("Failed to parse log facility") from None
    cfg.exec.syslog_priority = facility << 3 | cfg.exec.syslog_priority & 7


def _syslog_level(cfg: UnitConfig, value: str, ctx: ParseContext) -> None:
    cfg.exec.syslog_priority = cfg.exec.syslog_priority & LOG_FACMASK | _log_level(value, ctx)


def journal_field_valid(name: str) -> bool:
    """A field name a unit may add: A-Z, digits and '_', not leading with a digit or '_' (the
    protected fields journald sets itself), at most 64 characters."""
    return (0 < len(name) <= JOURNAL_FIELD_MAX and name[0] != "_" and not name[0].isdigit()
            and all("A" <= c <= "Z" or "0" <= c <= "9" or c == "_" for c in name))


def _log_extra_fields(cfg: UnitConfig, value: str, ctx: ParseContext) -> None:
    fields = cfg.exec.log_extra_fields
    if value == "":
        fields.clear()
        return
    try:
        items = words(value, Extract.UNQUOTE | Extract.CUNESCAPE)
    except Invalid:
        raise Invalid("Invalid syntax") from None
    for word in items:
        try:
            item = ctx.expand_or_reason(word)
        except ValueError as e:
            ctx.warn(f"Failed to resolve unit specifiers in {word}, ignoring: {e}")
            continue
        name, eq, _ = item.partition("=")
        if not eq:
            ctx.warn(f"Log field lacks '=' character, ignoring: {item}")
        elif not journal_field_valid(name):
            ctx.warn(f"Log field name is invalid, ignoring: {item}")
        else:
            fields.append(item)


LOG_HANDLERS: dict[str, Handler] = {
    "SyslogFacility": _syslog_facility,
    "SyslogLevel": _syslog_level,
    "SyslogLevelPrefix": setter(_exec, "syslog_level_prefix", plain(parse_boolean, "Failed to parse boolean value")),
    "LogLevelMax": setter(_exec, "log_level_max", _log_level),
    "LogRateLimitIntervalSec": setter(_exec, "log_rate_limit_interval_usec",
                                      plain(parse_timespan, "Failed to parse sec value")),
    "LogRateLimitBurst": setter(_exec, "log_rate_limit_burst", plain(parse_unsigned, "Failed to parse unsigned value")),
    "LogExtraFields": _log_extra_fields,
}
