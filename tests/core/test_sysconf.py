"""system.conf / user.conf: an admin's [Manager] tuning reaches the manager as systemd reads it."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import time
from pathlib import Path

from core_harness import Harness

from compat.model import OOMPolicy, ResourceLimit, Scope, StdOutput
from sysmasterd.core.states import JobResult
from sysmasterd.core.sysconf import config_files, parse_files


def test_supported_keys_become_settings() -> None:
    fields, diagnostics = parse_files([("/etc/systemd/system.conf", """
[Manager]
DefaultTimeoutStartSec=2min 30s
DefaultTimeoutStopSec=7s
DefaultStartLimitIntervalSec=1min
DefaultStartLimitBurst=9
DefaultStandardOutput=kmsg
DefaultEnvironment=A=1 "B=two words"
LogLevel=debug
DefaultOOMPolicy=kill
DefaultLimitNOFILE=2048:8192
DefaultLimitCORE=infinity
DefaultLimitCORE=
""")])
    assert diagnostics == []
    assert fields == {
        "default_timeout_start_usec": 150_000_000, "default_timeout_stop_usec": 7_000_000,
        "default_start_limit_interval_usec": 60_000_000, "default_start_limit_burst": 9,
        "default_standard_output": StdOutput.KMSG, "default_environment": {"A": "1", "B": "two words"},
        "log_level": "debug", "default_limits": {"NOFILE": ResourceLimit(2048, 8192)},
        "default_oom_policy": OOMPolicy.KILL,
    }


def test_bad_lines_are_reported_with_file_and_line_and_skipped() -> None:
    fields, diagnostics = parse_files([("/etc/systemd/system.conf", """[Manager]
DefaultTimeoutStopSec=soon
DefaultTasksMax=100
DefaultOOMScoreAdjust=
Bogus=1
DefaultStartLimitBurst=-1
[Other]
X=1
""")])
    assert fields == {}
    assert [str(d) for d in diagnostics] == [
        "/etc/systemd/system.conf:2: Failed to parse time span 'soon' for DefaultTimeoutStopSec=, ignoring.",
        "/etc/systemd/system.conf:3: DefaultTasksMax= is not supported by sysmaster yet, ignoring.",
        "/etc/systemd/system.conf:5: Unknown key 'Bogus' in section [Manager], ignoring.",
        "/etc/systemd/system.conf:6: Failed to parse unsigned integer '-1' for DefaultStartLimitBurst=, ignoring.",
        "/etc/systemd/system.conf:7: Unknown section 'Other'. Ignoring.",
    ]


def test_later_files_win_and_environment_adds_up() -> None:
    fields, _ = parse_files([
        ("a.conf", "[Manager]\nDefaultTimeoutStopSec=5s\nDefaultEnvironment=A=1 B=1\n"),
        ("b.conf", "[Manager]\nDefaultTimeoutStopSec=6s\nDefaultEnvironment=B=2\n"),
        ("c.conf", "[Manager]\nDefaultEnvironment=\nDefaultEnvironment=C=3\n"),
    ])
    assert fields["default_timeout_stop_usec"] == 6_000_000
    assert fields["default_environment"] == {"C": "3"}


def test_files_in_systemd_order(tmp_path: Path) -> None:
    for path, text in {
        "etc/systemd/system.conf": "", "etc/systemd/system.conf.d/20-b.conf": "",
        "usr/lib/systemd/system.conf.d/20-b.conf": "", "usr/lib/systemd/system.conf.d/10-a.conf": "",
        "run/systemd/system.conf.d/30-c.conf": "", "etc/systemd/user.conf": "",
        "home/.config/systemd/user.conf": "", "home/.config/systemd/user.conf.d/5-u.conf": "",
    }.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    rel = [str(Path(p).relative_to(tmp_path)) for p in config_files(Scope.SYSTEM, {}, str(tmp_path))]
    assert rel == ["etc/systemd/system.conf", "usr/lib/systemd/system.conf.d/10-a.conf",
                   "etc/systemd/system.conf.d/20-b.conf", "run/systemd/system.conf.d/30-c.conf"]
    user = config_files(Scope.USER, {"HOME": str(tmp_path / "home")}, str(tmp_path))
    assert [str(Path(p).relative_to(tmp_path)) for p in user] == [
        "etc/systemd/user.conf", "home/.config/systemd/user.conf", "home/.config/systemd/user.conf.d/5-u.conf"]


def test_default_timeout_stop_and_environment_apply_to_services(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    fields, _ = parse_files([("user.conf", "[Manager]\nDefaultTimeoutStopSec=1s\nDefaultEnvironment=FROM_CONF=yes\n")])
    h.settings = dataclasses.replace(h.settings, **fields)
    out = tmp_path / "env"
    try:
        h.write("stubborn.service", f"""
            [Service]
            ExecStart=/bin/sh -c 'echo "$FROM_CONF" > {out}; trap "" TERM; while :; do sleep 0.1; done'
        """)
        assert h.start("stubborn.service") is JobResult.DONE
        h.wait(out.exists, 5, "the service's output")
        assert out.read_text().strip() == "yes"
        t0 = time.monotonic()
        assert h.stop("stubborn.service") is JobResult.DONE
        assert 0.8 <= time.monotonic() - t0 < 4  # SIGKILL after DefaultTimeoutStopSec=1s, not 5 s
        assert h.unit("stubborn.service").impl.result() == "timeout"
    finally:
        h.close()


def test_sysmasterd_reports_config_problems_and_still_starts(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".config/systemd").mkdir(parents=True)
    (home / ".config/systemd/user.conf").write_text("[Manager]\nDefaultTimeoutStopSec=never\n")
    units = tmp_path / "units"
    units.mkdir()
    (units / "default.target").write_text("[Unit]\nDescription=Nothing\n")
    r = subprocess.run([sys.executable, "-m", "sysmasterd.core.main", "--user", "--test", "--unit-path", str(units)],
                       env={"HOME": str(home), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert (f"{home}/.config/systemd/user.conf:2: Failed to parse time span 'never' for DefaultTimeoutStopSec=, "
            "ignoring.") in r.stderr


def test_reload_replaces_the_configured_environment_but_keeps_what_clients_set(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.settings = dataclasses.replace(h.settings, default_environment={"A": "1", "B": "1"})
    try:
        m = h.manager
        m.set_environment(["B=client", "C=client"])
        m.on_reload_settings = lambda: dataclasses.replace(h.settings, default_environment={"D": "4"})
        m.reload()
        env = m.environment
        assert "A" not in env and env["B"] == "client" and env["C"] == "client" and env["D"] == "4"
    finally:
        h.close()
