"""`show` output: one `Name=value` line per property, values printed the way systemctl prints them."""

from __future__ import annotations

import signal

from compat.exitstatus import exit_status_name
from sysmasterd.cli.sctl_bus import CallError, Client
from sysmasterd.cli.sctl_common import Options, err, exit_for
from sysmasterd.cli.sctl_format import UINT64_MAX, format_span, format_timestamp

TYPE_CHECKING = False  # mypy knows this name; typing itself costs more to import than sctl may spend
if TYPE_CHECKING:
    from typing import Any

UINT32_MAX = (1 << 32) - 1
_NOT_SET = frozenset({"MemoryCurrent", "TasksCurrent", "CPUWeight", "StartupCPUWeight", "CPUShares",
                      "StartupCPUShares", "IOWeight", "StartupIOWeight", "BlockIOWeight",
                      "StartupBlockIOWeight", "CPUUsageNSec"})
_NO_DATA_PREFIXES = ("IPIngress", "IPEgress", "IORead", "IOWrite")
CODE_NAMES = {1: "exited", 2: "killed", 3: "dumped"}


def describe_exit(code: int, status: int) -> str:
    """'code=exited, status=1/FAILURE' or 'code=killed, signal=TERM'."""
    if code == 1:
        name = exit_status_name(status)
        return f"code=exited, status={status}" + (f"/{name}" if name else "")
    try:
        sig = signal.Signals(status).name.removeprefix("SIG")
    except ValueError:
        sig = str(status)
    return f"code={CODE_NAMES.get(code, str(code))}, signal={sig}"


def _exec_entry(name: str, entry: list[Any]) -> str:
    path, argv, flags, start_rt, _start_mono, exit_rt, _exit_mono, pid, code, status = entry
    flags_text = f"flags={' '.join(flags)}" if name.endswith("Ex") else f"ignore_errors={'yes' if flags else 'no'}"
    start = f"[{format_timestamp(start_rt)}]"
    stop = f"[{format_timestamp(exit_rt)}]"
    code_text = CODE_NAMES.get(code, "(null)")
    status_text = f"{status}/{exit_status_name(status) or status}" if code == 1 else f"{status}/{status}"
    if code in (2, 3):
        status_text = f"{status}/{signal.Signals(status).name.removeprefix('SIG')}"
    return (f"{{ path={path} ; argv[]={' '.join(argv)} ; {flags_text} ; start_time={start} ; "
            f"stop_time={stop} ; pid={pid} ; code={code_text} ; status={status_text} }}")


def format_value(name: str, signature: str, value: Any) -> str | list[str] | None:
    """The printed value; a list means one line per element; None means "nothing to print"."""
    if signature == "b":
        return "yes" if value else "no"
    if signature == "s":
        return value
    if signature == "t":
        if name.endswith("Timestamp"):
            return format_timestamp(value) if value else ""
        if value == UINT64_MAX:
            if name in _NOT_SET:
                return "[not set]"
            if name.startswith(_NO_DATA_PREFIXES):
                return "[no data]"
            return "infinity"
        if name.endswith("USec"):
            return format_span(value)
        if value == 0 and name in ("CPUWeight", "StartupCPUWeight"):
            return "idle"
        return str(value)
    if signature == "u":
        if name in ("UID", "GID") and value == UINT32_MAX:
            return "[not set]"
        if name == "UMask":
            return f"{value:04o}"
        return str(value)
    if signature == "d":
        return f"{value:g}"  # printf's %g, as bus_print_property() prints a double
    if signature in ("i", "q", "y", "x", "n"):
        return str(value)
    if signature in ("as", "ao"):
        return " ".join(value)
    if signature == "ay":
        return value.hex() if name == "InvocationID" else None
    if signature.startswith("a(sasbttttuii)") or signature.startswith("a(sasasttttuii)"):
        return [_exec_entry(name, e) for e in value] or None
    if name == "Job" and signature == "(uo)":
        return str(value[0]) if value[0] else ""
    if name == "Unit" and signature == "(so)":
        return value[0]
    if name == "LoadError" and signature == "(ss)":
        return f'{value[0]} "{value[1]}"' if value[0] else ""
    if signature == "(aiai)":
        return " ".join([*map(str, value[0]), *(signal.Signals(s).name for s in value[1])])
    return None


def show_lines(props: dict[str, tuple[str, Any]], wanted: list[str], value_only: bool, show_all: bool) -> list[str]:
    lines: list[str] = []
    for name, (signature, value) in props.items():
        if wanted and name not in wanted:
            continue
        text = format_value(name, signature, value)
        if text is None:
            continue
        for one in text if isinstance(text, list) else [text]:
            if one == "" and not show_all and not wanted:
                continue
            lines.append(one if value_only else f"{name}={one}")
    return lines


def show(client: Client, opts: Options, verb: str, names: list[str]) -> int:
    from sysmasterd.cli.sctl_lists import unit_rows, units_to_show

    if not names:
        targets = ([client.unit_path(row[0]) for row in unit_rows(client, opts, [])] if opts.states or opts.types
                   else ["/org/freedesktop/systemd1"])
    else:
        # a number is a job
        targets = [f"/org/freedesktop/systemd1/job/{n}" for n in names if n.isdigit()]
        targets += [client.unit_path(n) for n in units_to_show(client, opts, [n for n in names if not n.isdigit()])]
    for index, path in enumerate(targets):
        try:
            props = client.get_all_typed(path)
        except CallError as e:
            err(f"Failed to get properties: {e.text}")
            return exit_for(e)
        # one unit's properties at a time, a blank line between units, as systemctl prints them
        print(("\n" if index else "") + "\n".join(show_lines(props, opts.properties, opts.value, opts.all)))
    return 0
