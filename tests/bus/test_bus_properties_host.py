"""Every property of every interface of Debian's own unit files, read by the real systemctl from a
system-scope sysmasterd: no getter may fail (a failing getter logs a traceback and shows a zero
value), and list settings such as RuntimeDirectory= show what the unit file says."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from bus_harness import Manager, make_manager

DEBIAN_UNITS = Path("/lib/systemd/system")
# The harness's own default.target and basic.target stand in for Debian's, so nothing real starts.
_KEEP_OURS = {"default.target", "basic.target"}


def _debian_units() -> dict[str, str]:
    units: dict[str, str] = {}
    for entry in sorted(DEBIAN_UNITS.iterdir()):
        if entry.name in _KEEP_OURS or entry.is_symlink():
            continue
        if entry.is_file():
            units[entry.name] = entry.read_text(errors="replace")
        elif entry.is_dir() and entry.name.endswith(".d"):
            for conf in sorted(entry.glob("*.conf")):
                if conf.is_file() and not conf.is_symlink():
                    units[f"{entry.name}/{conf.name}"] = conf.read_text(errors="replace")
    return units


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Manager]:
    if not DEBIAN_UNITS.is_dir():
        pytest.skip("no Debian unit files here")
    yield from make_manager(tmp_path_factory.mktemp("hostprops"), "system", _debian_units())


def _show(m: Manager, *args: str) -> dict[str, str]:
    r = m.systemctl("show", *args)
    assert r.rc == 0, r.err
    out: dict[str, str] = {}
    for line in r.out.splitlines():
        key, _, value = line.partition("=")
        out[key] = value
    return out


def test_every_property_of_every_debian_unit_reads_without_error(host: Manager) -> None:
    names = sorted(n for n in os.listdir(host.units) if "." in n and not n.endswith(".d") and "@." not in n)
    names += ["getty@tty1.service", "user@0.service", "systemd-fsck@dev-sda1.service"]
    for start in range(0, len(names), 40):
        r = host.systemctl("show", "--all", *names[start:start + 40])
        assert r.rc == 0, r.err
    r = host.systemctl("show", "--all")  # the manager's own properties
    assert r.rc == 0, r.err
    assert _failed_getters(host) == []
    assert "Traceback" not in host.log


def _failed_getters(m: Manager) -> list[str]:
    return sorted({line.split()[2].rstrip(":") for line in m.log.splitlines() if line.endswith(": getter failed")})


def test_directory_lists_show_the_unit_files_values(host: Manager) -> None:
    props = _show(host, "-p", "RuntimeDirectory", "-p", "StateDirectory", "-p", "RuntimeDirectoryPreserve",
                  "-p", "RuntimeDirectoryMode", "systemd-logind.service")
    # systemd sorts them when the unit loads (parents before children: exec_directory_sort()).
    assert props["RuntimeDirectory"] == "systemd/inhibit systemd/seats systemd/sessions systemd/shutdown systemd/users"
    assert props["StateDirectory"] == "systemd/linger"
    assert props["RuntimeDirectoryPreserve"] == "yes"
    assert props["RuntimeDirectoryMode"] == "0755"


def test_every_directory_kind(host: Manager) -> None:
    host.write_unit("dirs.service", "[Service]\nExecStart=/bin/true\nRuntimeDirectory=a b/c\nStateDirectory=s\n"
                    "CacheDirectory=c1 c2\nLogsDirectory=l\nConfigurationDirectory=conf\nLogsDirectoryMode=0700\n")
    props = _show(host, "-p", "RuntimeDirectory", "-p", "StateDirectory", "-p", "CacheDirectory", "-p",
                  "LogsDirectory", "-p", "ConfigurationDirectory", "-p", "LogsDirectoryMode", "dirs.service")
    assert props == {"RuntimeDirectory": "a b/c", "StateDirectory": "s", "CacheDirectory": "c1 c2",
                     "LogsDirectory": "l", "ConfigurationDirectory": "conf", "LogsDirectoryMode": "0700"}


# Every setting of the exec, kill and service sections that holds more than a plain value.
KITCHEN_SINK = """[Unit]
Description=All list settings
Documentation=man:true(1) https://example.org/
RequiresMountsFor=/var/tmp /srv
ConditionPathExists=/
AssertPathExists=!/nonexistent
[Service]
Type=simple
ExecStart=/bin/sleep 1000
Environment=A=1 "B=two words"
EnvironmentFile=-/etc/nonexistent
PassEnvironment=PATH HOME
UnsetEnvironment=FOO
CPUAffinity=0 1
IOSchedulingClass=idle
IOSchedulingPriority=5
Nice=5
OOMScoreAdjust=100
Personality=x86-64
StandardInputText=hello
SupplementaryGroups=daemon adm
SuccessExitStatus=3 SIGUSR1
RestartPreventExitStatus=4
RestartForceExitStatus=5 SIGHUP
LimitNOFILE=100:200
LimitCORE=infinity
UMask=0027
KillMode=mixed
KillSignal=SIGINT
TimeoutStartSec=7
WatchdogSec=3
"""


def test_a_unit_with_every_list_setting(host: Manager) -> None:
    host.write_unit("sink.service", KITCHEN_SINK)
    r = host.systemctl("show", "--all", "sink.service")
    assert r.rc == 0, r.err
    assert _failed_getters(host) == []
