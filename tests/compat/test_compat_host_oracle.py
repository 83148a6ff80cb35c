"""Every service unit of this host, parsed by compat, compared field by field with systemd's dump."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from compat_helpers import FACTS, analyze_dump_all, needs_analyze

from compat.config_service import effective_type
from compat.loader import UnitLoader
from compat.model import Scope, UnitConfig
from compat.values import signal_name
from sysmasterd.timespan import format_timespan

HOST_UNITS = Path("/lib/systemd/system")
EXEC_KINDS = ("ExecCondition", "ExecStartPre", "ExecStart", "ExecStartPost", "ExecReload", "ExecStop",
              "ExecStopPost")


def _yn(value: bool) -> str:
    return "yes" if value else "no"


def _unquote(word: str) -> str:
    for escaped, plain in (("\\$", "$"), ("\\`", "`"), ("\\t", "\t"), ("\\n", "\n")):
        word = word.replace(escaped, plain)
    return word


def ours(config: UnitConfig) -> dict[str, list[str]]:
    s, e, k, u = config.service, config.exec, config.kill, config.unit
    assert s is not None
    fields = {
        "Description": [u.description or config.name],
        "StopWhenUnneeded": [_yn(u.stop_when_unneeded)],
        "RefuseManualStart": [_yn(u.refuse_manual_start)],
        "RefuseManualStop": [_yn(u.refuse_manual_stop)],
        "DefaultDependencies": [_yn(u.default_dependencies)],
        "IgnoreOnIsolate": [_yn(u.ignore_on_isolate)],
        "RemainAfterExit": [_yn(s.remain_after_exit)],
        "GuessMainPID": [_yn(s.guess_main_pid)],
        "Type": [effective_type(s).value],
        "Restart": [s.restart.value],
        "KillMode": [k.kill_mode.value],
        "KillSignal": [signal_name(k.kill_signal)],
        "SendSIGKILL": [_yn(k.send_sigkill)],
        "SendSIGHUP": [_yn(k.send_sighup)],
        "UMask": [f"{e.umask:04o}"],
        "StandardInput": [e.standard_input.value],
        "RuntimeDirectory": [d.path for d in e.runtime_directory],
        "StateDirectory": [d.path for d in e.state_directory],
        "Environment": [f"{name}={value}" for name, value in e.environment.items()],
    }
    sec = 1_000_000
    if s.restart_usec is not None:
        fields["RestartSec"] = [format_timespan(s.restart_usec, sec)]
    fields["RuntimeMaxSec"] = [format_timespan(s.runtime_max_usec, sec)]
    fields["WatchdogSec"] = [format_timespan(s.watchdog_usec, sec)]
    # None means "manager default", which the core applies; only set values are comparable.
    if s.timeout_start_usec is not None:
        fields["TimeoutStartSec"] = [format_timespan(s.timeout_start_usec, sec)]
    if s.timeout_stop_usec is not None:
        fields["TimeoutStopSec"] = [format_timespan(s.timeout_stop_usec, sec)]
    if e.oom_score_adjust is not None:
        fields["OOMScoreAdjust"] = [str(e.oom_score_adjust)]
    if e.user is not None:
        fields["User"] = [e.user]
    for name, limit in e.limits.items():
        fields[f"Limit{name}"] = [str(limit.hard)]
        fields[f"Limit{name}Soft"] = [str(limit.soft)]
    for kind in EXEC_KINDS:
        attr = "".join("_" + c.lower() if c.isupper() else c for c in kind).lstrip("_")
        commands = getattr(s, attr)
        fields[f"{kind}.Command Line"] = [shlex.join(c.argv) for c in commands]
    return fields


def theirs(dump: dict[str, list[str]], keys: list[str]) -> dict[str, list[str]]:
    result = {key: dump.get(key, []) for key in keys}
    for key in keys:
        if key.endswith(".Command Line"):
            result[key] = [shlex.join([_unquote(w) for w in shlex.split(line)]) for line in result[key]]
    return result


@needs_analyze
@pytest.mark.skipif(not HOST_UNITS.is_dir(), reason="no host units")
def test_host_services_match_systemd_dump() -> None:
    loader = UnitLoader(Scope.SYSTEM, environ={}, facts=FACTS)
    services = [n for n in loader.all_names() if n.endswith(".service") and "@" not in n]
    loaded = {n: loader.load(n) for n in services}
    fragments = sorted({u.fragment_path for u in loaded.values() if u.load_state == "loaded" and u.fragment_path})
    dumps = analyze_dump_all(fragments)
    compared = 0
    for name, unit in loaded.items():
        if unit.load_state != "loaded" or unit.name not in dumps or unit.config is None:
            continue
        mine = ours(unit.config)
        assert mine == theirs(dumps[unit.name], list(mine)), name
        compared += 1
    assert compared >= min(10, len(services) // 2)
