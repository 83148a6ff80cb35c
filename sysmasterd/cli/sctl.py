"""`sctl`: systemctl's verbs, options, output and exit codes, for hosts without systemd's systemctl.

Installed as `sctl`; a symlink named `systemctl` behaves the same. Talks D-Bus to sysmasterd (the
private socket when allowed, else the bus), like systemctl does.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Awaitable, Callable

from compat.install import Installer
from compat.model import Scope
from sysmasterd import __version__
from sysmasterd.cli import sctl_analyze, sctl_units
from sysmasterd.cli.sctl_bus import CallError, Client
from sysmasterd.cli.sctl_format import table
from sysmasterd.cli.sctl_status import NO_PRESET_STATES
from sysmasterd.cli.sctl_units import EXIT_FAILURE, Options

Verb = Callable[[Client, Options, list[str]], Awaitable[int]]


# Calls after which the daemon goes away (re-exec, or ends with the machine) and may not answer.
_DROPS_CONNECTION = ("Reexecute", "PowerOff", "Reboot", "Halt")


def _manager_call(member: str, failure: str) -> Verb:
    async def run(client: Client, opts: Options, args: list[str]) -> int:
        try:
            await client.manager(member)
        except CallError as e:
            if member in _DROPS_CONNECTION and e.name in ("org.freedesktop.DBus.Error.NoReply", ""):
                return 0
            sctl_units.err(f"{failure}: {e.text}")
            return sctl_units.exit_for(e)
        except ConnectionError:
            if member not in _DROPS_CONNECTION:
                raise
        return 0

    return run


async def _system_running(client: Client, opts: Options, args: list[str]) -> int:
    state = await client.get("/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager", "SystemState")
    if not opts.quiet:
        print(state)
    return 0 if state == "running" else EXIT_FAILURE


async def _get_default(client: Client, opts: Options, args: list[str]) -> int:
    try:
        print(await client.manager("GetDefaultTarget"))
    except CallError as e:
        sctl_units.err(f"Failed to get default target: {e.text}")
        return sctl_units.exit_for(e)
    return 0


def _print_changes(changes: list[list[str]]) -> None:
    for kind, path, source in changes:
        if kind == "symlink":
            print(f"Created symlink {path} \u2192 {source}.", file=sys.stderr)
        elif kind == "unlink":
            print(f'Removed "{path}".', file=sys.stderr)


def _unit_files(member: str, signature: str, failure: str) -> Verb:
    """enable/disable/mask/unmask/set-default: change files, print what changed, reload like systemctl."""

    async def run(client: Client, opts: Options, args: list[str]) -> int:
        names = [sctl_units.mangle(a) for a in args]
        if not names:
            sctl_units.err("Too few arguments.")
            return EXIT_FAILURE
        body: list[object] = {"asbb": [names, False, False], "asb": [names, False], "sb": [names[0], True]}[signature]
        try:
            reply = await client.manager(member, signature, body)
            _print_changes(reply[1] if signature == "asbb" and member == "EnableUnitFiles" else reply)
            await client.manager("Reload")
        except CallError as e:
            sctl_units.err(f"{failure}: {e.text}")
            return sctl_units.exit_for(e) if e.name == "org.freedesktop.DBus.Error.AccessDenied" else EXIT_FAILURE
        if opts.now and member in ("EnableUnitFiles", "DisableUnitFiles"):
            verb = "start" if member == "EnableUnitFiles" else "stop"
            return await sctl_units.job_verb(client, opts, verb, names)
        return 0

    return run


async def _is_enabled(client: Client, opts: Options, args: list[str]) -> int:
    enabled = False
    for name in map(sctl_units.mangle, args):
        try:
            state = await client.manager("GetUnitFileState", "s", [name])
        except CallError as e:
            sctl_units.err(f"Failed to get unit file state for {name}: {e.text}")
            return EXIT_FAILURE if e.name != "org.freedesktop.systemd1.NoSuchUnit" else 4
        if not opts.quiet:
            print(state)
        enabled = enabled or state in ("enabled", "enabled-runtime", "static", "alias", "indirect", "generated")
    return 0 if enabled else EXIT_FAILURE


async def _list_unit_files(client: Client, opts: Options, args: list[str]) -> int:
    rows = await client.manager("ListUnitFilesByPatterns", "asas", [opts.states, args])
    # Like systemctl, the preset comes from this host's preset files, read client-side.
    presets = Installer(Scope.USER if opts.user else Scope.SYSTEM)
    body = sorted(([name, state, presets.unit_file_preset(name) if state not in NO_PRESET_STATES else "-"]
                   for name, state in ((os.path.basename(path), state) for path, state in rows)),
                  key=lambda r: (r[0].rpartition(".")[2].lower(), r[0].lower()))  # by type, then name
    for line in table(body, None if opts.no_legend else ["UNIT FILE", "STATE", "PRESET"]):
        print(line)
    if not opts.no_legend:
        print(f"\n{len(body)} unit files listed.")
    return 0


def _verbs() -> dict[str, Verb]:
    table: dict[str, Verb] = {}
    for name in sctl_units.JOB_VERBS:
        table[name] = lambda c, o, a, name=name: sctl_units.job_verb(c, o, name, a)  # type: ignore[misc]
    table.update({
        "status": sctl_units.status,
        "show": sctl_units.show,
        "is-active": lambda c, o, a: sctl_units.is_state(c, o, a, ("active", "reloading"), 3),
        "is-failed": lambda c, o, a: sctl_units.is_state(c, o, a, ("failed",), EXIT_FAILURE),
        "list-units": sctl_units.list_units,
        "list-jobs": sctl_units.list_jobs,
        "list-dependencies": sctl_units.list_dependencies,
        "cat": sctl_units.cat,
        "kill": sctl_units.kill,
        "reset-failed": sctl_units.reset_failed,
        "show-environment": lambda c, o, a: sctl_units.environment(c, o, "show-environment", a),
        "set-environment": lambda c, o, a: sctl_units.environment(c, o, "set-environment", a),
        "unset-environment": lambda c, o, a: sctl_units.environment(c, o, "unset-environment", a),
        "daemon-reload": _manager_call("Reload", "Failed to reload daemon"),
        "daemon-reexec": _manager_call("Reexecute", "Failed to reexecute daemon"),
        # There is no logind or poweroff.target on a sysmaster host: these ask the manager directly,
        # like `systemctl --force poweroff`.
        "poweroff": _manager_call("PowerOff", "Failed to power off system"),
        "reboot": _manager_call("Reboot", "Failed to reboot system"),
        "halt": _manager_call("Halt", "Failed to halt system"),
        "is-system-running": _system_running,
        "get-default": _get_default,
        "set-default": _unit_files("SetDefaultTarget", "sb", "Failed to set default target"),
        "enable": _unit_files("EnableUnitFiles", "asbb", "Failed to enable unit"),
        "disable": _unit_files("DisableUnitFiles", "asb", "Failed to disable unit"),
        "mask": _unit_files("MaskUnitFiles", "asbb", "Failed to mask unit"),
        "unmask": _unit_files("UnmaskUnitFiles", "asb", "Failed to unmask unit"),
        "is-enabled": _is_enabled,
        "list-unit-files": _list_unit_files,
        "blame": sctl_analyze.blame,
        "critical-chain": sctl_analyze.critical_chain,
        "plot": sctl_analyze.plot,
    })
    return table


def _parser(prog: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="Query or send control commands to sysmasterd.")
    scope = p.add_mutually_exclusive_group()
    scope.add_argument("--user", action="store_true", help="talk to the user service manager")
    scope.add_argument("--system", action="store_true", help="talk to the system service manager (default)")
    p.add_argument("-a", "--all", action="store_true", help="show all units/properties, including inactive/empty")
    p.add_argument("--state", action="append", default=[], help="list units in these states (comma-separated)")
    p.add_argument("-t", "--type", action="append", default=[], help="list units of these types")
    p.add_argument("-p", "--property", action="append", default=[], help="show only these properties")
    p.add_argument("-P", dest="property_value", action="append", default=[], help="like -p X --value")
    p.add_argument("--value", action="store_true", help="with show: print values only")
    p.add_argument("--no-block", action="store_true", help="do not wait for jobs to finish")
    p.add_argument("--no-legend", action="store_true", help="no column headers and footers")
    p.add_argument("--no-pager", action="store_true", help="accepted for compatibility (sctl never pages)")
    p.add_argument("--no-ask-password", action="store_true", help="accepted for compatibility")
    p.add_argument("--now", action="store_true", help="with enable/disable: also start/stop")
    p.add_argument("-s", "--signal", default="SIGTERM", help="signal for kill")
    p.add_argument("--kill-whom", "--kill-who", dest="kill_whom", default="all", choices=["main", "control", "all"])
    p.add_argument("-q", "--quiet", action="store_true", help="suppress output")
    p.add_argument("-l", "--full", action="store_true", help="accepted for compatibility")
    p.add_argument("--after", action="store_true", help="with list-jobs: show the jobs each job waits for")
    p.add_argument("--before", action="store_true", help="with list-jobs: show the jobs waiting for each job")
    # systemctl's first line is "systemd <N> (...)"; scripts read the number from field 2.
    p.add_argument("--version", action="version", version=f"systemd 252 (sysmaster-py {__version__})",
                   help="show the systemd version this is compatible with, and sysmaster-py's")
    p.add_argument("verb", nargs="?", default="list-units")
    p.add_argument("args", nargs="*")
    return p


def main(argv: list[str] | None = None) -> int:
    prog = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "sctl"
    parser = _parser(prog if prog in ("sctl", "systemctl") else "sctl")
    try:
        ns = parser.parse_intermixed_args(argv)
    except SystemExit as e:
        # systemctl answers option errors with 1, and scripts test for it.
        return 0 if e.code == 0 else EXIT_FAILURE
    verbs = _verbs()
    run = verbs.get(ns.verb)
    if run is None:
        print(f"Unknown command verb '{ns.verb}'.", file=sys.stderr)
        return EXIT_FAILURE

    def split(values: list[str]) -> list[str]:
        return [v for value in values for v in value.split(",") if v]

    opts = Options(user=ns.user, all=ns.all, states=split(ns.state), properties=split(ns.property) + split(
        ns.property_value), value=ns.value or bool(ns.property_value), no_block=ns.no_block,
        no_legend=ns.no_legend, now=ns.now, signal=ns.signal, kill_whom=ns.kill_whom, quiet=ns.quiet,
        after=ns.after, before=ns.before, types=split(ns.type))
    return asyncio.run(_run(run, opts, ns.args))


async def _run(run: Verb, opts: Options, args: list[str]) -> int:
    try:
        client = await Client.connect(opts.user)
    except (OSError, ConnectionError) as e:
        print(f"Failed to connect to bus: {e.strerror if isinstance(e, OSError) and e.strerror else e}",
              file=sys.stderr)
        return EXIT_FAILURE
    try:
        return await run(client, opts, args)
    except CallError as e:
        print(f"Failed: {e.text}", file=sys.stderr)
        return sctl_units.exit_for(e)
    finally:
        client.close()


if __name__ == "__main__":
    sys.exit(main())
