"""sctl verbs that act on units and jobs: start/stop/..., status, show, is-*, list-*, cat, kill."""

from __future__ import annotations

import sys

from sysmasterd.cli.sctl_bus import UNIT, CallError, Client
from sysmasterd.cli.sctl_common import (
    EXIT_FAILURE,
    EXIT_NOT_RUNNING,
    Options,
    err,
    exit_for,
)
from sysmasterd.cli.sctl_format import paint, use_colors

_JOB_VERBS = {
    "start": ("StartUnit", "start"),
    "stop": ("StopUnit", "stop"),
    "restart": ("RestartUnit", "restart"),
    "reload": ("ReloadUnit", "reload"),
    "try-restart": ("TryRestartUnit", "try-restart"),
    "condrestart": ("TryRestartUnit", "try-restart"),
    "reload-or-restart": ("ReloadOrRestartUnit", "reload-or-restart"),
    "try-reload-or-restart": ("ReloadOrTryRestartUnit", "reload-or-try-restart"),
    "force-reload": ("ReloadOrTryRestartUnit", "reload-or-try-restart"),
    # systemctl's legacy aliases, left out of --help as it leaves them
    "condstop": ("StopUnit", "stop"),
    "reload-or-try-restart": ("ReloadOrTryRestartUnit", "reload-or-try-restart"),
    "condreload": ("ReloadOrTryRestartUnit", "reload-or-try-restart"),
    "isolate": ("StartUnit", "start"),
}
JOB_VERBS = frozenset(_JOB_VERBS)
# Errors after which systemctl does not point at the logs.
_SELF_EXPLAINING = frozenset({"org.freedesktop.systemd1.NoSuchUnit", "org.freedesktop.systemd1.UnitMasked",
                              "org.freedesktop.systemd1.JobTypeNotApplicable"})

_SERVICE_RESULTS = {
    "protocol": "the service did not take the steps required by its unit configuration",
    "timeout": "a timeout was exceeded",
    "exit-code": "the control process exited with error code",
    "signal": "a fatal signal was delivered to the control process",
    "core-dump": "a fatal signal was delivered causing the control process to dump core",
    "watchdog": "the service failed to send watchdog ping",
    "start-limit-hit": "start of the service was attempted too often",
}


def _job_failure(client: Client, opts: Options, unit: str, result: str) -> None:
    see = (f'See "systemctl{opts.scope_flag} status {unit}" and "journalctl{opts.scope_flag} -xeu {unit}" '
           "for details.")
    if result == "canceled":
        err(f"Job for {unit} canceled.")
    elif result == "timeout":
        err(f"Job for {unit} timed out.")
    elif result == "dependency":
        err(f"A dependency job for {unit} failed. See 'journalctl -xe' for details.")
    elif result == "invalid":
        err(f"{unit} is not active, cannot reload.")
    elif result == "assert":
        err(f"Assertion failed on job for {unit}.")
    elif result == "unsupported":
        err(f"Operation on or unit type of {unit} not supported on this system.")
    elif result in ("failed", "collected", "once"):
        why = ""
        if unit.endswith(".service"):
            try:
                service_result = client.get(client.unit_path(unit), "org.freedesktop.systemd1.Service", "Result")
                why = _SERVICE_RESULTS.get(service_result, "")
            except CallError:
                why = ""
        err(f"Job for {unit} failed because {why}.\n{see}" if why else f"Job for {unit} failed.\n{see}")
        if why == _SERVICE_RESULTS["start-limit-hit"]:
            err(f'To force a start use "systemctl{opts.scope_flag} reset-failed {unit}"\n'
                f'followed by "systemctl{opts.scope_flag} start {unit}" again.')


def job_verb(client: Client, opts: Options, verb: str, names: list[str]) -> int:
    if not names and not opts.marked:
        err("Too few arguments.")
        return EXIT_FAILURE
    if opts.wait and verb not in ("start", "restart"):
        err("--wait may only be used with the 'start' or 'restart' commands.")
        return EXIT_FAILURE
    method, shown = _JOB_VERBS[verb]
    mode = "isolate" if verb == "isolate" else opts.job_mode
    from sysmasterd.cli.sctl_lists import expand_names_and_globs

    units, expanded = expand_names_and_globs(client, opts, names, ".target" if verb == "isolate" else ".service")
    if shown == "start" and not opts.all and not opts.quiet and expanded:
        err(f"Warning: {paint('systemctl start called with a glob pattern.', 'red')}")
        err("Hint: unit globs expand to loaded units, so start will usually have no effect.\n"
            "      Passing --all will also load units which are pulled in by other units.\n"
            "      See systemctl(1) for more details.")
    return run_jobs(client, opts, method, shown, mode, units)


def run_jobs(client: Client, opts: Options, method: str, shown: str, mode: str, names: list[str]) -> int:
    """Queue one job per unit and, unless --no-block, wait for them and explain the failures."""
    if not opts.no_block:
        client.subscribe_jobs()
    jobs: dict[str, str] = {}
    rc = 0
    if opts.marked and not opts.dry_run:
        try:
            jobs = {path: _job_unit(client, path) for path in client.manager("EnqueueMarkedJobs")}
        except CallError as e:
            err(f"Failed to start jobs: {e.text}")
            return exit_for(e)
    for name in names if not opts.dry_run else ():
        try:
            if opts.show_transaction:
                job_id, job_path, unit, _unit_path, job_type, affected = client.manager(
                    "EnqueueUnitJob", "sss", [name, shown, mode])
                err(f"Enqueued anchor job {job_id} {unit}/{job_type}.")
                for other_id, _path, other, _other_path, other_type in affected:
                    err(f"Enqueued auxiliary job {other_id} {other}/{other_type}.")
                jobs[job_path] = name
            else:
                jobs[client.manager(method, "ss", [name, mode])] = name
        except CallError as e:
            err(f"Failed to {shown} {name}: {e.text}")
            if e.name not in _SELF_EXPLAINING:
                err(f"See {'user' if opts.user else 'system'} logs and 'systemctl{opts.scope_flag} status "
                    f"{name}' for details.")
            rc = rc or exit_for(e)
    if not opts.no_block and jobs:
        results = client.wait_jobs(list(jobs))
        for path, result in results.items():
            if result not in ("done", "skipped"):
                _job_failure(client, opts, jobs[path], result)
                rc = rc or EXIT_FAILURE
    if opts.wait and jobs and _wait_stopped(client, list(jobs.values())):
        rc = rc or EXIT_FAILURE
    return rc


def _job_unit(client: Client, path: str) -> str:
    """The unit of a queued job ("" once the job is gone)."""
    try:
        return str(client.get(path, "org.freedesktop.systemd1.Job", "Unit")[0])
    except CallError:
        return ""


def _wait_stopped(client: Client, names: list[str]) -> bool:
    """--wait: until every unit is inactive or failed with no job left; True when one failed."""
    import time

    paths = [client.unit_path(n) for n in names]
    failed = False
    while paths:
        for path in list(paths):
            props = client.get_all(path, UNIT)
            if props["ActiveState"] in ("inactive", "failed") and not props["Job"][0]:
                failed = failed or props["ActiveState"] == "failed"
                paths.remove(path)
        if paths:
            time.sleep(0.1)  # a poll, as cheap as the PropertiesChanged match systemctl adds
    return failed


def is_state(client: Client, opts: Options, verb: str, names: list[str]) -> int:
    good, miss = (("failed",), EXIT_FAILURE) if verb == "is-failed" else (("active", "reloading"), EXIT_NOT_RUNNING)
    if not names:
        err("Too few arguments.")
        return EXIT_FAILURE
    from sysmasterd.cli.sctl_lists import expand_names

    found = False
    for name in expand_names(client, opts, names):
        state = client.get(client.unit_path(name), UNIT, "ActiveState")
        if not opts.quiet:
            print(state)
        found = found or state in good
    return 0 if found else miss


def list_jobs(client: Client, opts: Options, verb: str, patterns: list[str]) -> int:
    from sysmasterd.cli.sctl_table import GREEN, HIGHLIGHT, NORMAL, Cell, Table

    rows = sorted(client.manager("ListJobs"), key=lambda r: r[0])
    if patterns:
        import fnmatch

        rows = [r for r in rows if any(fnmatch.fnmatchcase(r[1], p) for p in patterns)]
    colors = use_colors()
    if not rows:
        if opts.legend:
            listed = "listed" if patterns and client.manager("ListJobs") else "running"
            print(f"{GREEN}No jobs {listed}.{NORMAL}" if colors else f"No jobs {listed}.")
        return 0
    table = Table("job", "unit", "type", "state", header=opts.legend)
    for job_id, unit, job_type, state, job_path, _unit_path in rows:
        on = HIGHLIGHT if state == "running" else ""
        table.add(str(job_id), Cell(unit, on), job_type, Cell(state, on))
        for flag, method, label in ((opts.after, "GetAfter", "blocking job"),
                                    (opts.before, "GetBefore", "waiting for job")):
            if flag:
                (others,) = client.call(job_path, "org.freedesktop.systemd1.Job", method)
                for other in others:
                    table.add("└─", f"\t{label} {other[0]} ({other[1]}/{other[2]})", None, None)
    table.print()
    if opts.legend:
        print(f"\n{HIGHLIGHT}{len(rows)} jobs listed{NORMAL}." if colors else f"\n{len(rows)} jobs listed.")
    return 0


def cat(client: Client, opts: Options, verb: str, names: list[str]) -> int:
    from sysmasterd.cli.sctl_lists import units_to_show

    rc = 0
    first = True
    for name in units_to_show(client, opts, names):
        path = client.unit_path(name)
        props = client.get_all(path, UNIT)
        files = ([props["FragmentPath"]] if props["FragmentPath"] else []) + list(props["DropInPaths"])
        if not files:
            err(f"No files found for {name}.")
            rc = EXIT_FAILURE
            continue
        for f in files:
            if not first:
                print()
            first = False
            print(paint(f"# {f}", "blue"))
            try:
                with open(f) as fh:
                    text = fh.read()
                sys.stdout.write(text if not text or text.endswith("\n") else text + "\n")
            except OSError as e:
                err(f"Failed to read \"{f}\": {e.strerror}")
                rc = EXIT_FAILURE
    return rc


def kill(client: Client, opts: Options, verb: str, names: list[str]) -> int:
    sig = opts.signal.upper()
    try:
        import signal

        signo = int(sig) if sig.isdigit() else signal.Signals[sig if sig.startswith("SIG") else "SIG" + sig].value
    except (KeyError, ValueError):
        err(f'Failed to parse signal string "{opts.signal}".')
        return EXIT_FAILURE
    from sysmasterd.cli.sctl_lists import expand_names

    rc = 0
    for name in expand_names(client, opts, names):
        try:
            client.manager("KillUnit", "ssi", [name, opts.kill_whom, signo])
        except CallError as e:
            err(f"Failed to kill unit {name}: {e.text}")
            rc = rc or exit_for(e)
    return rc


def clean_or_freeze(client: Client, opts: Options, verb: str, patterns: list[str]) -> int:
    """clean/freeze/thaw. Unless --no-block, each unit is referenced first and watched until it
    leaves "maintenance" (where cleaning runs); a CleanResult other than success fails the verb."""
    from sysmasterd.cli.sctl_lists import expand_names

    rc = 0
    watched: list[str] = []
    for name in expand_names(client, opts, patterns):
        if not opts.no_block:
            try:
                client.manager("RefUnit", "s", [name])
            except CallError as e:
                err(f"Failed to add reference to unit {name}: {e.text}")
                rc = rc or EXIT_FAILURE
                continue
        try:
            if verb == "clean":
                client.manager("CleanUnit", "sas", [name, opts.clean_what or ["cache", "runtime"]])
            else:
                client.manager("FreezeUnit" if verb == "freeze" else "ThawUnit", "s", [name])
        except CallError as e:
            err(f"Failed to {verb} unit {name}: {e.text}")
            if rc == 0:  # systemctl still watches the units after its first failure
                rc = EXIT_FAILURE
                continue
        if not opts.no_block:
            watched.append(name)
    return _await_maintenance_end(client, watched) or rc


def _await_maintenance_end(client: Client, names: list[str]) -> int:
    import time

    failed = False
    for name in names:
        path = client.unit_path(name)
        while True:
            props = client.get_all(path)  # every interface: CleanResult is the unit type's
            result = props.get("CleanResult")
            failed = failed or (result is not None and result != "success")
            if props.get("ActiveState") != "maintenance":
                break
            time.sleep(0.02)
        try:
            client.manager("UnrefUnit", "s", [name])
        except CallError:
            pass  # systemctl only traces a reference it could not drop
    return EXIT_FAILURE if failed else 0


def reset_failed(client: Client, opts: Options, verb: str, names: list[str]) -> int:
    from sysmasterd.cli.sctl_lists import expand_names

    try:
        if not names:
            client.manager("ResetFailed")
        for name in expand_names(client, opts, names):
            client.manager("ResetFailedUnit", "s", [name])
    except CallError as e:
        err(f"Failed to reset failed state of unit: {e.text}")
        return exit_for(e)
    return 0


def imported_environment(names: list[str]) -> list[str]:
    """import-environment's assignments: the named variables of our environment, or all of it."""
    import os

    from compat.execline import env_name_is_valid

    if not names:
        err("Calling import-environment without a list of variable names is deprecated.")
        return [f"{k}={v}" for k, v in os.environ.items() if env_name_is_valid(k)]
    out = []
    for name in names:
        if not env_name_is_valid(name):
            raise ValueError(f"Not a valid environment variable name: {name}")
        if name in os.environ:
            out.append(f"{name}={os.environ[name]}")
        else:
            err(f"Environment variable ${name} not set, ignoring.")
    return out


def environment(client: Client, opts: Options, verb: str, args: list[str]) -> int:
    try:
        if verb == "show-environment":
            env = client.get("/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager", "Environment")
            print("\n".join(env))
        elif verb == "set-environment":
            client.manager("SetEnvironment", "as", [args])
        elif verb == "import-environment":
            client.manager("SetEnvironment", "as", [imported_environment(args)])
        else:
            client.manager("UnsetEnvironment", "as", [args])
    except ValueError as e:  # a bad name for import-environment, before any call
        err(str(e))
        return EXIT_FAILURE
    except CallError as e:
        what = {"set-environment": "set", "unset-environment": "unset", "import-environment": "import"}.get(verb, "get")
        err(f"Failed to {what} environment: {e.text}")
        return exit_for(e) if e.name != "org.freedesktop.DBus.Error.InvalidArgs" else EXIT_FAILURE
    return 0
