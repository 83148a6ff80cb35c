"""`status UNIT`: the block systemctl prints, from the unit's merged properties."""

from __future__ import annotations

import os

from sysmasterd.cli.sctl_bus import CallError, Client
from sysmasterd.cli.sctl_common import EXIT_NO_SUCH_UNIT, EXIT_NOT_RUNNING, Options, err, mangle
from sysmasterd.cli.sctl_format import (
    UINT64_MAX,
    dot,
    format_bytes,
    format_relative,
    format_span,
    format_timestamp,
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


def render(p: dict[str, Any], processes: list[list[Any]]) -> list[str]:
    """Lines of `systemctl status` for one unit (without the journal tail)."""
    unit_id = p["Id"]
    active, sub = p["ActiveState"], p["SubState"]
    desc = p.get("Description") or ""
    lines = [f"{dot(active)} {unit_id}" + (f" - {desc}" if desc and desc != unit_id else "")]

    def field(label: str, text: str) -> None:
        lines.append(f"{label:>11}: {text}")

    loaded = p["LoadState"]
    where = p.get("FragmentPath") or p.get("SourcePath") or ""
    extra = [where] if where else []
    if p.get("UnitFileState"):
        extra.append(enablement(p["UnitFileState"], p.get("UnitFilePreset") or ""))
    reason = p["LoadError"][1] if p.get("LoadError") and p["LoadError"][0] else ""
    if reason and loaded != "loaded":
        extra = [f"Reason: {reason}"]
    field("Loaded", loaded + (f" ({'; '.join(extra)})" if extra else ""))
    dropins = p.get("DropInPaths") or []
    if dropins:
        by_dir: dict[str, list[str]] = {}
        for path in dropins:
            by_dir.setdefault(os.path.dirname(path), []).append(os.path.basename(path))
        first = True
        for directory, files in by_dir.items():
            lines.append(f"{'Drop-In' if first else '':>11}{':' if first else ' '} {directory}")
            lines.append(f"{'':>13}└─{', '.join(files)}")
            first = False

    if active == "failed":
        result = p.get("Result", "success")
        colored = paint(active, "red") + (f" (Result: {result})" if result != "success" else f" ({sub})")
    elif active == "active":
        colored = paint(f"{active} ({sub})", "green")
    else:
        colored = f"{active} ({sub})"
    since_key = {"active": "ActiveEnterTimestamp", "reloading": "ActiveEnterTimestamp",
                 "failed": "InactiveEnterTimestamp", "inactive": "InactiveEnterTimestamp",
                 "activating": "InactiveExitTimestamp", "deactivating": "ActiveExitTimestamp"}.get(active, "")
    since = p.get(since_key, 0)
    if since:
        colored += f" since {format_timestamp(since)}; {format_relative(since)}"
    field("Active", colored)
    entered, left = p.get("ActiveEnterTimestamp", 0), p.get("ActiveExitTimestamp", 0)
    if (since and active in ("inactive", "failed") and not unit_id.endswith(".target")
            and 0 < entered <= left < UINT64_MAX):
        field("Duration", format_span(left - entered, 1000))

    main_pid = p.get("MainPID", 0)
    exec_main = p.get("ExecMainPID", 0)
    for kind in _EXEC_KINDS:
        for entry in p.get(kind, []):
            path, argv, _ignore, _start, _sm, _exit, _em, pid, code, status = entry
            if code == 0 or pid == 0:
                continue
            outcome = f"({describe_exit(code, status)})"
            if code != 1 or status != 0:
                outcome = paint(outcome, "red")
            field("Process", f"{pid} {kind}={' '.join(argv) or path} {outcome}")
    if main_pid:
        comm = "".join(_proc(main_pid, "comm"))
        field("Main PID", f"{main_pid}" + (f" ({comm})" if comm else ""))
    elif exec_main and p.get("ExecMainCode"):
        field("Main PID", f"{exec_main} ({describe_exit(p['ExecMainCode'], p['ExecMainStatus'])})")
    if p.get("StatusText"):
        field("Status", f'"{p["StatusText"]}"')
    tasks = p.get("TasksCurrent", UINT64_MAX)
    if tasks != UINT64_MAX:
        limit = p.get("TasksMax", UINT64_MAX)
        field("Tasks", f"{tasks}" + (f" (limit: {limit})" if limit != UINT64_MAX else ""))
    memory = p.get("MemoryCurrent", UINT64_MAX)
    if memory != UINT64_MAX:
        field("Memory", format_bytes(memory))
    cpu = p.get("CPUUsageNSec", UINT64_MAX)
    if cpu != UINT64_MAX:
        field("CPU", format_span(cpu // 1000, 1000))
    cgroup = p.get("ControlGroup", "")
    if cgroup:
        field("CGroup", cgroup)
        for i, (_cg, pid, cmd) in enumerate(processes):
            branch = "└─" if i == len(processes) - 1 else "├─"
            lines.append(f"{'':>13}{branch}" + paint(f"{pid} {cmd or ' '.join(_proc(pid, 'cmdline'))}", "grey"))
    return lines


def _unit_props(client: Client, name: str) -> dict[str, Any]:
    return client.get_all(client.unit_path(name))


def status(client: Client, opts: Options, verb: str, names: list[str]) -> int:
    if not names:
        return _system_status(client)
    rc = 0
    blocks: list[list[str]] = []
    for name in (mangle(n, opts.quiet) for n in names):
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
        if name.endswith(".service"):
            try:
                processes = client.manager("GetUnitProcesses", "s", [name])
            except CallError:
                processes = []
        blocks.append(render(p, processes) + _journal_tail(opts, name, p.get("InactiveExitTimestamp", 0)))
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


def _system_status(client: Client) -> int:
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
    lines.append(f"   CGroup: {m.get('ControlGroup') or '/'}")
    print("\n".join(lines))
    return 0
