"""sctl set-property: `PROP=VALUE` assignments typed client-side as systemctl types them, sent with
SetUnitProperties.

systemctl parses each assignment itself (bus-unit-util.c) and refuses names it does not know for
the unit's type. The settings the daemon can set (bus/unitprops.py) get systemctl's exact wire
form: percentages of memory and task limits as `*Scale` fractions of UINT32_MAX, `infinity` and
`` as the limits' extremes, `idle` as CPU weight 0. Any other name systemctl knows goes under the
wire name systemctl would use (CPUQuota= as CPUQuotaPerSecUSec, `*Sec` as `*USec`) with the value
as a string (time spans as microseconds): the daemon refuses it by that name, as it refuses
systemctl's typed value.
"""

from __future__ import annotations

from sysmasterd.cli.dbuswire import Variant
from sysmasterd.cli.sctl_bus import CallError, Client
from sysmasterd.cli.sctl_common import EXIT_FAILURE, Options, err

UINT32_MAX = (1 << 32) - 1
UINT64_MAX = (1 << 64) - 1
# The memory settings whose empty value means "no floor" (0) rather than "no ceiling".
_FLOORS = ("DefaultMemoryLow", "DefaultMemoryMin", "MemoryLow", "MemoryMin")
_LIMITS = (*_FLOORS, "MemoryHigh", "MemoryMax", "MemorySwapMax", "MemoryLimit", "TasksMax")
_STRERROR = {"EINVAL": "Invalid argument", "ERANGE": "Numerical result out of range"}


class AssignmentError(Exception):
    """What systemctl logs for an assignment it cannot type."""


def _known(name: str, unit_type: str) -> bool:
    from sysmasterd.cli import sctl_propnames as names

    groups = names.TYPE_GROUPS.get(unit_type, ())
    if any(name in names.GROUPS[g].split() for g in (*groups, "unit")):
        return True
    if "cgroup" in groups and name in names.IO_LIMITS.split():
        return True
    if "execute" in groups and name.startswith("Limit") and name[5:] in names.RLIMITS.split():
        return True
    return name in names.DEPENDENCIES.split() or name.startswith(("Condition", "Assert"))


def _wire_name(name: str, unit_type: str) -> str:
    from sysmasterd.cli.sctl_propnames import WIRE_NAMES

    wire = WIRE_NAMES.get(f"{name}@{unit_type}") or WIRE_NAMES.get(name)
    if wire:
        return wire
    if name.startswith(("Condition", "Assert")):
        return "Conditions" if name.startswith("Condition") else "Asserts"
    return name[:-3] + "USec" if name.endswith("Sec") else name


def _failed(name: str, value: str, errno_name: str) -> AssignmentError:
    return AssignmentError(f"Failed to parse {name}={value}: {_STRERROR[errno_name]}")


def _unsigned(name: str, value: str) -> int:
    """safe_atou64(): a negative number is out of range rather than malformed."""
    from compat.values import c_integer

    try:
        return c_integer(value, signed=False)
    except ValueError:
        raise _failed(name, value, "ERANGE" if value.lstrip(" \t\n\r").startswith("-") else "EINVAL") from None


def _weight(name: str, value: str) -> tuple[str, str, int]:
    from compat.config_resources import cpu_weight, weight

    if value == "":
        return name, "t", UINT64_MAX
    if name.endswith("CPUWeight") and value == "idle":
        return name, "t", 0
    number = _unsigned(name, value)
    try:
        return name, "t", cpu_weight(str(number)) if name.endswith("CPUWeight") else weight(str(number))
    except ValueError:
        raise _failed(name, value, "ERANGE") from None


def _limit(name: str, value: str) -> tuple[str, str, int]:
    from compat.values import parse_permyriad, parse_size

    if value == "infinity":
        return name, "t", UINT64_MAX
    if value == "":
        return name, "t", 0 if name in _FLOORS else UINT64_MAX
    try:
        permyriad = parse_permyriad(value)
    except ValueError:
        pass
    else:
        return name + "Scale", "u", (min(permyriad, 10000) * UINT32_MAX + 5000) // 10000
    if name == "TasksMax":
        return name, "t", _unsigned(name, value)
    try:
        return name, "t", parse_size(value, 1024)
    except ValueError:
        raise _failed(name, value, "EINVAL") from None


def _cpu_quota(value: str) -> int:
    from compat.values import parse_permyriad

    if value == "":
        return UINT64_MAX
    try:
        permyriad = parse_permyriad(value, bounded=False)
    except ValueError:
        raise AssignmentError(f"CPU quota '{value}' invalid.") from None
    if permyriad == 0:
        raise AssignmentError("CPU quota too small.")
    return permyriad * 1_000_000 // 10000


def _seconds(name: str, value: str, infinity_if_empty: bool = False) -> int:
    from compat.values import parse_timespan

    if value == "" and infinity_if_empty:
        return UINT64_MAX
    try:
        return parse_timespan(value)
    except ValueError:
        if name == "CPUQuotaPeriodSec":
            raise AssignmentError(f"CPU quota period '{value}' invalid.") from None
        raise _failed(name, value, "EINVAL") from None


def encode(assignment: str, unit_type: str) -> tuple[str, Variant]:
    """One `(sv)` entry for SetUnitProperties, or AssignmentError with systemctl's words."""
    name, eq, value = assignment.partition("=")
    if not eq:
        raise AssignmentError(f"Not an assignment: {assignment}")
    if not _known(name, unit_type):
        raise AssignmentError(f"Unknown assignment: {assignment}")
    if name in ("CPUWeight", "StartupCPUWeight", "IOWeight", "StartupIOWeight"):
        wire, signature, number = _weight(name, value)
        return wire, Variant(signature, number)
    if name in _LIMITS:
        wire, signature, number = _limit(name, value)
        return wire, Variant(signature, number)
    if name == "CPUQuota":
        return "CPUQuotaPerSecUSec", Variant("t", _cpu_quota(value))
    if name == "CPUQuotaPeriodSec":
        return "CPUQuotaPeriodUSec", Variant("t", _seconds(name, value, infinity_if_empty=True))
    if name.endswith("Accounting"):
        from compat.values import parse_boolean

        try:
            return name, Variant("b", parse_boolean(value))
        except ValueError:
            raise AssignmentError(f"Failed to parse {name}: {value}") from None
    wire = _wire_name(name, unit_type)
    if name.endswith("Sec") and wire.endswith("USec"):
        return wire, Variant("t", _seconds(name, value))
    return wire, Variant("s", value)


def set_property(client: Client, opts: Options, verb: str, args: list[str]) -> int:
    if len(args) < 2:
        err("Too few arguments.")
        return EXIT_FAILURE
    from sysmasterd.cli.sctl_lists import expand_names

    for name in expand_names(client, opts, args[:1]):
        try:
            props = [encode(a, name.rpartition(".")[2]) for a in args[1:]]
        except AssignmentError as e:
            err(str(e))
            return EXIT_FAILURE
        try:
            client.manager("SetUnitProperties", "sba(sv)", [name, opts.runtime, props])
        except CallError as e:
            err(f"Failed to set unit properties on {name}: {e.text}")
            return EXIT_FAILURE
    return 0
