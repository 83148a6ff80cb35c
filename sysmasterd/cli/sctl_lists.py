"""The list verbs as systemctl 252 has them: list-units, list-timers, list-sockets,
list-automounts, list-machines and list-dependencies (systemctl-list-units.c,
systemctl-list-machines.c, systemctl-list-dependencies.c)."""

from __future__ import annotations

from sysmasterd.cli.sctl_bus import MANAGER, MANAGER_PATH, UNIT, CallError, Client
from sysmasterd.cli.sctl_common import Options, is_glob, mangle
from sysmasterd.cli.sctl_format import (
    STATE_GLYPHS,
    UINT64_MAX,
    format_relative,
    format_timestamp,
    next_elapse,
    use_colors,
)
from sysmasterd.cli.sctl_table import (
    GREEN,
    HIGHLIGHT,
    NORMAL,
    RED,
    RED_UNDERLINE,
    UNDERLINE,
    YELLOW,
    YELLOW_UNDERLINE,
    Cell,
    Table,
)

TYPE_CHECKING = False  # mypy knows this name; typing itself costs more to import than sctl may spend
if TYPE_CHECKING:
    from typing import Any

_FORWARD = ("Requires", "Requisite", "Wants", "ConsistsOf", "BindsTo", "Upholds")
_REVERSE = ("RequiredBy", "RequisiteOf", "WantedBy", "PartOf", "BoundBy", "UpheldBy")
_DEPENDENCIES = {"forward": _FORWARD, "reverse": _REVERSE, "after": ("After",), "before": ("Before",)}
_BAD_LOAD = ("error", "not-found", "bad-setting", "masked")


def _suffix(unit: str) -> str:
    return unit.rpartition(".")[2]


def _shown(opts: Options, row: list[Any]) -> bool:
    """systemctl's output_show_unit(): the filter applied to every row of ListUnitsByPatterns."""
    name, following, active, job = row[0], row[5], row[3], row[7]
    if opts.types and _suffix(name) not in opts.types:
        return False
    if opts.all:
        return True
    if following:
        return False
    if opts.states:
        return True
    return bool(job) or active != "inactive"


def unit_rows(client: Client, opts: Options, patterns: list[str]) -> list[list[Any]]:
    rows = client.manager("ListUnitsByPatterns", "asas", [opts.states, patterns])
    rows = [r for r in rows if _shown(opts, r)]
    # unit_info_compare(): by type, then by name, both without regard to case
    rows.sort(key=lambda r: ("." + _suffix(r[0])).lower() + "\0" + r[0].lower())
    return rows


def unit_dependencies(client: Client, opts: Options, name: str) -> list[str]:
    """unit_get_dependencies(): the dependencies --reverse/--after/--before ask for, in the order
    the manager lists its properties (systemctl reads them in that order)."""
    wanted = _DEPENDENCIES[opts.dependency]
    deps: list[str] = []
    for key, value in client.get_all(client.unit_path(name), UNIT).items():
        if key in wanted:
            deps += [d for d in value if d not in deps]
    return deps


def with_dependencies(client: Client, opts: Options, names: list[str]) -> list[str]:
    """append_unit_dependencies() for --with-dependencies: each name followed by its direct
    dependencies, every unit once."""
    out: list[str] = []
    for name in names:
        out.append(name)
        try:
            deps = unit_dependencies(client, opts, name)
        except CallError:
            deps = []
        out += [d for d in deps if d not in out]
    return out


def list_units(client: Client, opts: Options, verb: str, patterns: list[str]) -> int:
    if opts.with_dependencies:
        patterns = with_dependencies(client, opts, patterns)
    rows = unit_rows(client, opts, patterns)
    table = Table("", "unit", "load", "active", "sub", "job", "description", header=opts.legend)
    if opts.plain:
        table.hidden.add(0)
    jobs = 0
    for i, r in enumerate(rows):
        underline = i + 1 < len(rows) and _suffix(r[0]) != _suffix(rows[i + 1][0])
        plain = UNDERLINE if underline else ""
        circle, on_circle, on_loaded, on_active = False, plain, plain, plain
        if r[2] in _BAD_LOAD and not opts.plain:
            circle, on_circle = True, YELLOW_UNDERLINE if underline else YELLOW
            on_loaded, on_active = (RED_UNDERLINE if underline else RED), ""
        elif r[3] == "failed" and not opts.plain:
            circle, on_circle = True, RED_UNDERLINE if underline else RED
            on_loaded, on_active = "", on_circle
        table.add(Cell("●" if circle else " ", on_circle), Cell(r[0], on_active), Cell(r[2], on_loaded),
                  Cell(r[3], on_active), Cell(r[4], on_active), Cell(r[8] if r[7] else "", plain),
                  Cell(r[1], plain))
        jobs += bool(r[7])
    if not jobs:
        table.hidden.add(5)
    table.print(opts.output)
    if opts.legend:
        if rows:
            print("\nLOAD   = Reflects whether the unit definition was properly loaded.\n"
                  "ACTIVE = The high-level unit activation state, i.e. generalization of SUB.\n"
                  "SUB    = The low-level unit activation state, values depend on unit type.")
            if jobs:
                print("JOB    = Pending job for the unit.\n")
        on, off, grey = _legend_colors(bool(rows))
        if opts.all or "inactive" in opts.states:
            print(f"{on}{len(rows)} loaded units listed.{off}\n"
                  f"{grey}To show all installed unit files use 'systemctl list-unit-files'.{off}")
        elif not opts.states:
            print(f"{on}{len(rows)} loaded units listed.{off} {grey}Pass --all to see loaded but inactive units, "
                  f"too.{off}\n{grey}To show all installed unit files use 'systemctl list-unit-files'.{off}")
        else:
            print(f"{len(rows)} loaded units listed.")
    return 0


def _legend_colors(any_rows: bool) -> tuple[str, str, str]:
    if not use_colors():
        return "", "", ""
    return (HIGHLIGHT if any_rows else RED), NORMAL, "\x1b[0;38;5;245m"


def _legend(opts: Options, kind: str, n: int) -> None:
    on, off, _grey = _legend_colors(n > 0)
    print(f"\n{on}{n} {kind}s listed.{off}")
    if not opts.all:
        print(f"Pass --all to see loaded but inactive {kind}s, too.")


def _typed_rows(client: Client, opts: Options, patterns: list[str], suffix: str) -> list[list[Any]]:
    """The units of one type that systemctl lists; a pattern without a type means that type."""
    names = [mangle(p, opts.quiet, suffix) for p in patterns]
    rows = client.manager("ListUnitsByPatterns", "asas", [opts.states, names])
    return [r for r in rows if _shown(opts, r) and r[0].endswith(suffix)]


def _timestamp(usec: int) -> Cell:
    return Cell(format_timestamp(usec) if _is_set(usec) else None, value=usec)


def _relative(usec: int) -> Cell:
    return Cell(format_relative(usec) if _is_set(usec) else None, value=usec)


def _is_set(usec: int) -> bool:
    return usec not in (0, UINT64_MAX)


def list_timers(client: Client, opts: Options, verb: str, patterns: list[str]) -> int:
    timers = []
    for row in _typed_rows(client, opts, patterns, ".timer"):
        props = client.get_all(row[6], "org.freedesktop.systemd1.Timer")
        nxt = next_elapse(props.get("NextElapseUSecMonotonic", 0), props.get("NextElapseUSecRealtime", 0))
        triggers = client.get(row[6], UNIT, "Triggers")
        timers.append((nxt, row[0], props.get("LastTriggerUSec", 0), triggers))
    timers.sort(key=lambda t: (t[0], t[1]))
    table = Table("next", "left", "last", "passed", "unit", "activates", header=opts.legend)
    for nxt, unit, last, triggers in timers:
        table.add(_timestamp(nxt), _relative(nxt), _timestamp(last), _relative(last), unit, ", ".join(triggers))
    table.print(opts.output)
    if opts.legend:
        _legend(opts, "timer", len(timers))
    return 0


def list_sockets(client: Client, opts: Options, verb: str, patterns: list[str]) -> int:
    sockets = []
    for row in _typed_rows(client, opts, patterns, ".socket"):
        triggers = client.get(row[6], UNIT, "Triggers")
        listen = client.get(row[6], "org.freedesktop.systemd1.Socket", "Listen")
        sockets += [(path, kind, row[0], triggers) for kind, path in listen]
    sockets.sort(key=lambda s: (s[0], s[1]))
    table = Table("listen", "type", "unit", "activates", header=opts.legend)
    if not opts.show_types:
        table.hidden.add(1)
    for path, kind, unit, triggers in sockets:
        value = triggers[0] if len(triggers) == 1 else triggers or None
        table.add(path, kind, unit, Cell(" ".join(triggers) if triggers else None, value=value))
    table.print(opts.output)
    if opts.legend:
        _legend(opts, "socket", len(sockets))
    return 0


def list_automounts(client: Client, opts: Options, verb: str, patterns: list[str]) -> int:
    from compat.unitname import from_path
    from sysmasterd.timespan import format_timespan

    mounts = []
    for row in _typed_rows(client, opts, patterns, ".automount"):
        props = client.get_all(row[6], "org.freedesktop.systemd1.Automount")
        mount = client.unit_path(from_path(props["Where"], "mount") or "")
        what = client.get(mount, "org.freedesktop.systemd1.Mount", "What")
        mounted = client.get(mount, UNIT, "ActiveState") == "active"
        mounts.append((props["Where"], what, mounted, props["TimeoutIdleUSec"], row[0]))
    mounts.sort()
    table = Table("what", "where", "mounted", "idle timeout", "unit", header=opts.legend)
    for where, what, mounted, idle, unit in mounts:
        table.add(what or None, where, Cell("yes" if mounted else "no", value=mounted),
                  Cell(format_timespan(idle, 1000), value=idle), unit)
    table.print(opts.output)
    if opts.legend:
        _legend(opts, "automount", len(mounts))
    return 0


def list_machines(client: Client, opts: Options, verb: str, patterns: list[str]) -> int:
    """The host, then the containers machined registered (whose managers we cannot ask: n/a)."""
    import os
    from fnmatch import fnmatchcase

    def shown(name: str) -> bool:
        return not patterns or any(fnmatchcase(name, p) for p in patterns)

    machines: list[tuple[str, str | None, int, int]] = []
    host = os.uname().nodename
    if shown(host):
        props = client.get_all(MANAGER_PATH, MANAGER)
        machines.append((f"{host} (host)", props["SystemState"], props["NFailedUnits"], props["NJobs"]))
    machines += sorted((name, None, 0, 0) for name in _containers() if shown(name))
    table = Table("", "name", "state", "failed", "jobs", header=opts.legend)
    if opts.plain:
        table.hidden.add(0)
    for name, state, failed, jobs in machines:
        on_state = "" if state == "running" else RED if state == "degraded" else YELLOW
        table.add(Cell("●" if on_state else " ", on_state), name, Cell(state or "n/a", on_state),
                  Cell(str(failed), RED if failed else "", value=failed), Cell(str(jobs), value=jobs))
    table.print(opts.output)
    if opts.legend:
        if any(state is None for _, state, _, _ in machines) and os.geteuid() != 0:
            print("\nNotice: some information only available to privileged users was not shown.")
        else:
            print()
        print(f"{len(machines)} machines listed.")
    return 0


def _containers() -> list[str]:
    import os

    found = []
    try:
        names = os.listdir("/run/systemd/machines")
    except OSError:
        return []
    for name in names:
        try:
            with open(f"/run/systemd/machines/{name}") as f:
                if "CLASS=container\n" in f.read():
                    found.append(name)
        except OSError:
            continue
    return found


def _state_glyph(client: Client, name: str) -> str:
    try:
        state = client.get(client.unit_path(name), UNIT, "ActiveState")
    except CallError:
        state = ""
    if not use_colors():
        return STATE_GLYPHS.get(state, "") + " "
    on = GREEN if state in ("active", "reloading", "activating") else NORMAL if state in (
        "inactive", "deactivating") else RED
    return f"{on}{STATE_GLYPHS.get(state, '')}{NORMAL} "


def _dependency_sort_key(name: str) -> tuple[bool, str]:
    return name.endswith(".target"), name.lower()


def list_dependencies(client: Client, opts: Options, verb: str, names: list[str]) -> int:
    roots = expand_names(client, opts, names) if names else ["default.target"]
    done: list[str] = []
    out: list[str] = []

    def one(name: str, level: int, branches: int) -> None:
        done.append(name)
        deps = sorted(unit_dependencies(client, opts, name), key=_dependency_sort_key)
        circular = False
        for i, dep in enumerate(deps):
            if dep in done:
                circular = True
                continue
            last = i == len(deps) - 1
            prefix = "  " if opts.plain else _state_glyph(client, dep)
            out.append(prefix + _tree(opts, level, branches, last and not circular) + dep)
            if opts.all or dep.endswith(".target"):
                one(dep, level + 1, (branches << 1) | (0 if last else 1))
        if circular and not opts.plain:
            out.append("  " + _tree(opts, level, branches, True) + "...")
        if not opts.plain:
            done.remove(name)

    for index, root in enumerate(roots):
        if index:
            out.append("")
        out.append(root)
        one(root, 0, 0)
    if out:
        print("\n".join(out))
    return 0


def _tree(opts: Options, level: int, branches: int, last: bool) -> str:
    if opts.plain:
        return ""
    return "".join("│ " if branches & (1 << i) else "  " for i in range(level - 1, -1, -1)) + ("└─" if last else "├─")


def expand_names(client: Client, opts: Options, patterns: list[str], suffix: str = ".service") -> list[str]:
    """expand_unit_names(): the names mangled, then the loaded units the globs among them match,
    in the manager's order and filtered as list-units filters (so inactive ones only with --all)."""
    return expand_names_and_globs(client, opts, patterns, suffix)[0]


def expand_names_and_globs(client: Client, opts: Options, patterns: list[str],
                           suffix: str = ".service") -> tuple[list[str], bool]:
    """expand_names(), and whether there were globs to expand."""
    names: list[str] = []
    globs: list[str] = []
    for pattern in patterns:
        name = mangle(pattern, opts.quiet, suffix)
        (globs if is_glob(name) else names).append(name)
    if globs:
        names += [row[0] for row in client.manager("ListUnitsByPatterns", "asas", [opts.states, globs])
                  if _shown(opts, row)]
    return names, bool(globs)


def units_to_show(client: Client, opts: Options, patterns: list[str]) -> list[str]:
    """show, status and cat: the names expanded, and with --with-dependencies each followed by its
    dependencies."""
    names = expand_names(client, opts, patterns)
    return with_dependencies(client, opts, names) if opts.with_dependencies else names
