"""`status UNIT`: the block systemctl prints, from the unit's merged properties."""

from __future__ import annotations

import os

from sysmasterd.cli.sctl_bus import UNIT, CallError, Client
from sysmasterd.cli.sctl_cgtree import process_tree
from sysmasterd.cli.sctl_common import EXIT_NO_SUCH_UNIT, EXIT_NOT_RUNNING, Options, err, exit_for
from sysmasterd.cli.sctl_format import (
    STATE_GLYPHS,
    UINT64_MAX,
    dot,
    format_bytes,
    format_relative,
    format_span,
    format_timestamp,
    next_elapse,
    paint,
)
from sysmasterd.cli.sctl_show import describe_exit

TYPE_CHECKING = False  # mypy knows this name; typing itself costs more to import than sctl may spend
if TYPE_CHECKING:
    from typing import Any

_EXEC_KINDS = ("ExecCondition", "ExecStartPre", "ExecStart", "ExecStartPost", "ExecReload", "ExecStop",
               "ExecStopPost")


def _proc(pid: int, name: str) -> list[str]:
    """/proc/PID/<name> split at NULs and the final newline ([] when the process is gone)."""
    try:
        with open(f"/proc/{pid}/{name}", "rb") as f:
            return [a.decode(errors="replace") for a in f.read().rstrip(b"\n").split(b"\0") if a]
    except OSError:
        return []


NO_PRESET_STATES = ("alias", "static", "generated", "transient")  # systemctl: a preset would confuse


_ENABLE_COLORS = {"enabled": "green", "disabled": "yellow"}


def _painted(text: str, state: str) -> str:
    color = _ENABLE_COLORS.get(state)
    return paint(text, color) if color else text


def enablement(state: str, preset: str) -> str:
    """"enabled; preset: disabled" of the Loaded: line. Like systemctl, the preset's colour codes
    are written even when the preset itself is not shown."""
    show = bool(preset) and state not in NO_PRESET_STATES
    return _painted(state, state) + ("; preset: " if show else "") + _painted(preset if show else "", preset)


# is_clean_exit(EXIT_CLEAN_DAEMON): status 0, or killed by one of these
_CLEAN_SIGNALS = (1, 2, 13, 15)


def painted_state(state: str, text: str) -> str:
    """format_active_state(): failed red, active and reloading green, the rest plain."""
    color = "red" if state == "failed" else "green" if state in ("active", "reloading") else ""
    return paint(text, color) if color else text


def _limits(p: dict[str, Any]) -> str:
    """The "(min: … max: …)" after Memory: for the limits a unit has."""
    def protection(value: int) -> str:
        return "infinity" if value == UINT64_MAX else format_bytes(value)

    parts = []
    for key, label, is_set in (("MemoryMin", "min", lambda v: v > 0), ("MemoryLow", "low", lambda v: v > 0),
                               ("MemoryHigh", "high", None), ("MemoryMax", "max", None),
                               ("MemorySwapMax", "swap max", None), ("MemoryLimit", "limit", None),
                               ("MemoryAvailable", "available", None)):
        value = p.get(key, 0 if is_set else UINT64_MAX)
        if is_set(value) if is_set else value != UINT64_MAX:
            parts.append(f"{label}: {protection(value) if is_set else format_bytes(value)}")
    return f" ({' '.join(parts)})" if parts else ""


def render(p: dict[str, Any], processes: list[list[Any]], states: dict[str, str], full: bool = True) -> list[str]:
    """Lines of `systemctl status` for one unit (without the journal tail); `states` holds the
    ActiveState of the units it triggers or is triggered by; without `full`, long command lines
    are cut to the terminal."""
    unit_id = p["Id"]
    active, sub = p["ActiveState"], p["SubState"]
    desc = p.get("Description") or ""
    lines = [f"{dot(active)} {unit_id}" + (f" - {desc}" if desc and desc != unit_id else "")]

    def field(label: str, text: str) -> None:
        lines.append(f"{label:>11}: {text}")

    if p.get("Following"):
        lines.append(f"    Follows: unit currently follows state of {p['Following']}")
    loaded = p["LoadState"]
    shown = paint(loaded, "red") if loaded in ("error", "not-found", "bad-setting") else loaded
    where = p.get("SourcePath") or p.get("FragmentPath") or ""
    reason = p["LoadError"][1] if p.get("LoadError") and p["LoadError"][0] else ""
    if reason:
        field("Loaded", f"{shown} (Reason: {reason})")
    elif where and p.get("UnitFileState"):
        field("Loaded", f"{shown} ({where}; {enablement(p['UnitFileState'], p.get('UnitFilePreset') or '')})")
    else:
        field("Loaded", f"{shown} ({where})" if where else shown)
    if p.get("Transient"):
        field("Transient", "yes")
    # a directory line whenever the next drop-in is not below the directory of the one before
    dropins = p.get("DropInPaths") or []
    directory, last, files = "", True, ""
    for k, path in enumerate(dropins):
        if last:
            lines.append(("             " if directory else "    Drop-In: ") + os.path.dirname(path))
            directory, files = os.path.dirname(path), "             └─"
        last = k + 1 == len(dropins) or not dropins[k + 1].startswith(directory)
        files += os.path.basename(path) + ("" if last else ", ")
        if last:
            lines.append(files)

    colored = painted_state(active, active if sub == active else f"{active} ({sub})")
    freezer = p.get("FreezerState") or "running"
    if freezer != "running":
        colored += " " + paint(f"({freezer})", "yellow")
    result = p.get("Result") or "success"
    if result != "success":
        colored += f" (Result: {result})"
    since_key = {"active": "ActiveEnterTimestamp", "reloading": "ActiveEnterTimestamp",
                 "failed": "InactiveEnterTimestamp", "inactive": "InactiveEnterTimestamp",
                 "activating": "InactiveExitTimestamp"}.get(active, "ActiveExitTimestamp")
    since = p.get(since_key, 0)
    if since not in (0, UINT64_MAX):
        colored += f" since {format_timestamp(since)}; {format_relative(since)}"
    field("Active", colored)
    runtime_max = p.get("RuntimeMaxUSec", UINT64_MAX)
    if since not in (0, UINT64_MAX) and active == "active" and runtime_max != UINT64_MAX:
        field("Until", f"{format_timestamp(since + runtime_max)}; {format_relative(since + runtime_max)}")
    entered, left = p.get("ActiveEnterTimestamp", 0), p.get("ActiveExitTimestamp", 0)
    if (since not in (0, UINT64_MAX) and active in ("inactive", "failed") and not unit_id.endswith(".target")
            and 0 < entered <= left < UINT64_MAX):
        field("Duration", format_span(left - entered, 1000))

    for k, name in enumerate(p.get("TriggeredBy") or []):
        glyph = painted_state(states.get(name, ""), STATE_GLYPHS.get(states.get(name, ""), ""))
        lines.append(f"{'TriggeredBy:' if k == 0 else '':<12} {glyph} {name}")
    if unit_id.endswith(".timer"):
        nxt = next_elapse(p.get("NextElapseUSecMonotonic", 0), p.get("NextElapseUSecRealtime", 0))
        field("Trigger", f"{format_timestamp(nxt)}; {format_relative(nxt)}" if nxt not in (0, UINT64_MAX)
              else "n/a")
    for k, name in enumerate(p.get("Triggers") or []):
        glyph = painted_state(states.get(name, ""), "●")
        lines.append(f"{'   Triggers:' if k == 0 else '':<12} {glyph} {name}")
    _conditions(p, lines)
    for key, label in (("SysFSPath", "Device"), ("Where", "Where"), ("What", "What")):
        if p.get(key):
            field(label, p[key])
    for k, doc in enumerate(p.get("Documentation") or []):
        lines.append(f"   {'Docs:' if k == 0 else '':>9} {doc}")
    for k, (kind, address) in enumerate(p.get("Listen") or []):
        lines.append(f"   {'Listen:' if k == 0 else '':>9} {address} ({kind})")
    if p.get("Accept"):
        refused = p.get("NRefused", 0)
        lines.append(f"   Accepted: {p.get('NAccepted', 0)}; Connected: {p.get('NConnections', 0)};"
                     + (f"   Refused: {refused}" if refused else ""))

    main_pid = p.get("MainPID", 0)
    exec_main = p.get("ExecMainPID", 0)
    control_pid = p.get("ControlPID", 0)
    for kind in _EXEC_KINDS:
        for entry in p.get(kind, []):
            path, argv, ignore, _start, _sm, _exit, _em, pid, code, status = entry
            if code == 0 or pid == 0:
                continue
            outcome = f"({describe_exit(code, status)})"
            if not (code == 1 and status == 0) and not (code == 2 and status in _CLEAN_SIGNALS):
                outcome = paint(outcome, "yellow" if ignore else "red")
            field("Process", f"{pid} {kind}={' '.join(argv) or path} {outcome}")
            if pid == control_pid:
                control_pid = 0
    pids = ""
    if main_pid:
        comm = "".join(_proc(main_pid, "comm"))
        pids = f"{main_pid}" + (f" ({comm})" if comm else "")
    elif exec_main and p.get("ExecMainCode"):
        main_pid = exec_main
        pids = f"{exec_main} ({describe_exit(p['ExecMainCode'], p['ExecMainStatus'])})"
    if control_pid:
        comm = "".join(_proc(control_pid, "comm"))
        pids += ("; Control PID: " if main_pid else "") + f"{control_pid}" + (f" ({comm})" if comm else "")
    if pids:
        field("Main PID" if main_pid else "Cntrl PID", pids)
    if p.get("StatusText"):
        field("Status", f'"{p["StatusText"]}"')
    if p.get("StatusErrno", 0) > 0:
        field("Error", f"{p['StatusErrno']} ({os.strerror(p['StatusErrno'])})")
    for label, key_a, key_b, words in (("IP", "IPIngressBytes", "IPEgressBytes", ("in", "out")),
                                       ("IO", "IOReadBytes", "IOWriteBytes", ("read", "written"))):
        a, b = p.get(key_a, UINT64_MAX), p.get(key_b, UINT64_MAX)
        if a != UINT64_MAX and b != UINT64_MAX:
            field(label, f"{format_bytes(a)} {words[0]}, {format_bytes(b)} {words[1]}")
    tasks = p.get("TasksCurrent", UINT64_MAX)
    if tasks != UINT64_MAX:
        limit = p.get("TasksMax", UINT64_MAX)
        field("Tasks", f"{tasks}" + (f" (limit: {limit})" if limit != UINT64_MAX else ""))
    memory = p.get("MemoryCurrent", UINT64_MAX)
    if memory != UINT64_MAX:
        field("Memory", format_bytes(memory) + _limits(p))
    cpu = p.get("CPUUsageNSec", UINT64_MAX)
    if cpu != UINT64_MAX:
        field("CPU", format_span(cpu // 1000, 1000))
    cgroup = p.get("ControlGroup", "")
    if cgroup:
        field("CGroup", cgroup)
        lines += process_tree(processes, cgroup, " " * 13, full)
    return lines


def _conditions(p: dict[str, Any], lines: list[str]) -> None:
    """The Condition:/Assert: lines of a unit whose last start failed one."""
    if not p.get("ConditionResult", True) and p.get("ConditionTimestamp", 0) > 0:
        stamp = p["ConditionTimestamp"]
        lines.append(f"  Condition: start {paint('condition failed', 'yellow')} at {format_timestamp(stamp)}; "
                     f"{format_relative(stamp)}")
        failed = [c for c in p.get("Conditions") or [] if c[4] < 0]
        for k, (name, trigger, negate, param, _state) in enumerate(failed):
            branch = "└─" if k == len(failed) - 1 else "├─"
            lines.append(f"             {branch} {name}={'|' if trigger else ''}{'!' if negate else ''}{param} "
                         "was not met")
    if not p.get("AssertResult", True) and p.get("AssertTimestamp", 0) > 0:
        stamp = p["AssertTimestamp"]
        lines.append(f"     Assert: start {paint('assertion failed', 'red')} at {format_timestamp(stamp)}; "
                     f"{format_relative(stamp)}")
        failed = [c for c in p.get("Asserts") or [] if c[4] < 0]
        if any(c[1] for c in failed):
            lines.append("             none of the trigger assertions were met")
        elif failed:
            name, _trigger, negate, param, _state = failed[0]
            lines.append(f"             {name}={'!' if negate else ''}{param} was not met")


def _unit_props(client: Client, name: str) -> dict[str, Any]:
    return client.get_all(client.unit_path(name))


def status(client: Client, opts: Options, verb: str, names: list[str]) -> int:
    """status UNIT/PATTERN/PID...; without names the system's state, then with --all, --state= or
    --type= every unit so listed."""
    from sysmasterd.cli.sctl_lists import unit_rows, units_to_show

    if not names:
        filtered = bool(opts.states or opts.types)
        if not filtered:
            _system_status(client, opts.full)
        if not (filtered or opts.all):
            return 0
        if not filtered:
            print()
        units = [row[0] for row in unit_rows(client, opts, [])]
    else:
        # a number is a process: the unit it runs in
        units = []
        for pid in (int(n) for n in names if n.isdigit()):
            try:
                units.append(client.get(client.manager("GetUnitByPID", "u", [pid]), UNIT, "Id"))
            except CallError as e:
                err(f"Failed to get unit for PID {pid}: {e.text}")
                return exit_for(e)
        units += units_to_show(client, opts, [n for n in names if not n.isdigit()])
    return _show_status(client, opts, units)


def _show_status(client: Client, opts: Options, units: list[str]) -> int:
    rc = 0
    blocks: list[list[str]] = []
    for name in units:
        try:
            p = _unit_props(client, name)
        except CallError as e:
            err(f"Failed to get properties: {e.text}")
            rc = rc or EXIT_NO_SUCH_UNIT
            continue
        if p["LoadState"] == "not-found" and p["ActiveState"] == "inactive":
            err(f"Unit {name} could not be found.")
            rc = rc or EXIT_NO_SUCH_UNIT
            continue
        processes: list[list[Any]] = []
        if p.get("ControlGroup"):
            try:
                processes = client.manager("GetUnitProcesses", "s", [name])
            except CallError:
                processes = []
        states = {}
        for other in (p.get("TriggeredBy") or []) + (p.get("Triggers") or []):
            try:
                states[other] = client.get(client.unit_path(other), UNIT, "ActiveState")
            except CallError:
                states[other] = ""
        tail = _journal_tail(opts, name, p.get("InactiveExitTimestamp", 0))
        blocks.append(render(p, processes, states, opts.full) + tail)
        if p["ActiveState"] not in ("active", "reloading") and not rc:
            rc = EXIT_NOT_RUNNING
    if blocks:
        print("\n\n".join("\n".join(b) for b in blocks))
    return rc


def _journal_tail(opts: Options, unit: str, since: int) -> list[str]:
    """The unit's last journal lines of this boot since it last started, after a blank line, as
    systemctl prints them; read with the real journalctl, which matches a unit's lines as
    systemctl does. Nothing where there is no journal."""
    import subprocess

    if opts.lines <= 0:
        return []
    args = ["journalctl", "-q", "--no-pager", "-b", "-o", opts.output, "-n", str(opts.lines),
            "--user-unit" if opts.user else "-u", unit]
    if since:
        args.append(f"--since=@{since // 1_000_000}.{since % 1_000_000:06d}")
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return []
    lines = done.stdout.splitlines() if done.returncode == 0 else []
    return ["", *lines] if lines else []


def _system_status(client: Client, full: bool) -> int:
    m = client.get_all("/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager")
    state = m["SystemState"]
    # systemctl: a green dot when running, red when degraded, yellow otherwise; the state alike.
    color = {"running": "green", "degraded": "red"}.get(state, "yellow")
    lines = [f"{paint('●', color)} {os.uname().nodename}",
             f"    State: {paint(state, color)}",
             f"    Units: {m['NNames']} loaded (incl. loaded aliases)",
             f"     Jobs: {m['NJobs']} queued",
             f"   Failed: {m['NFailedUnits']} units"]
    since = m.get("UserspaceTimestamp", 0)
    if since:
        lines.append(f"    Since: {format_timestamp(since)}; {format_relative(since)}")
    lines.append(f"  systemd: {m['Version']}")
    if m.get("Tainted"):
        lines.append(f"  Tainted: {paint(m['Tainted'], 'yellow')}")
    lines.append(f"   CGroup: {m.get('ControlGroup') or '/'}")
    try:
        processes = client.manager("GetUnitProcesses", "s", ["-.slice"])
    except CallError:
        processes = []
    lines += process_tree(processes, m.get("ControlGroup") or "/", " " * 11, full)
    print("\n".join(lines))
    return 0
