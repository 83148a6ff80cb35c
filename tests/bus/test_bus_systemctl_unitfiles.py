"""Unit files and daemon lifecycle through the real systemctl: enable/disable/mask/unmask,
is-enabled, list-unit-files, get/set-default, daemon-reload, daemon-reexec.

System scope, with a tmpfs over /etc/systemd/system in the test's mount namespace: that is where
enable/mask/set-default write."""

from __future__ import annotations

import re
import resource
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from bus_harness import Manager, make_manager, wait_for

UNITS = {
    "inst.service": (
        "[Unit]\nDescription=Installable\n[Service]\nExecStart=/bin/sleep 1000\n[Install]\nWantedBy=default.target\n"
    ),
    "static.service": "[Unit]\nDescription=No install section\n[Service]\nExecStart=/bin/sleep 1000\n",
    "other.target": "[Unit]\nDescription=Another target\n",
    "sysinit.target": "[Unit]\nDescription=System Initialization\n",
}


@pytest.fixture(scope="module")
def um(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Manager]:
    yield from make_manager(tmp_path_factory.mktemp("files"), "system", UNITS, config_dir=True)


def test_enable_disable_mask(um: Manager) -> None:
    assert um.systemctl("is-enabled", "inst.service").out == "disabled\n"
    assert um.systemctl("is-enabled", "inst.service").rc == 1
    enable = um.systemctl("enable", "inst.service")
    assert enable.rc == 0, enable.err
    assert re.search(r"Created symlink .*default\.target\.wants/inst\.service → .*/inst\.service\.", enable.err)
    assert um.systemctl("is-enabled", "inst.service").out == "enabled\n"
    assert re.search(r"Loaded: loaded \(.*inst\.service; enabled", um.systemctl("status", "inst.service").out)
    files = um.systemctl("list-unit-files", "--no-legend")
    assert re.search(r"^inst\.service\s+enabled", files.out, re.M)
    assert re.search(r"^static\.service\s+static", files.out, re.M)
    assert um.systemctl("disable", "inst.service").rc == 0
    assert um.systemctl("is-enabled", "inst.service").out == "disabled\n"
    now = um.systemctl("enable", "--now", "inst.service")
    assert now.rc == 0, now.err
    assert um.systemctl("is-active", "inst.service").out == "active\n"
    assert um.systemctl("disable", "--now", "inst.service").rc == 0
    assert um.systemctl("is-active", "inst.service").rc == 3
    assert um.systemctl("mask", "inst.service").rc == 0
    assert um.systemctl("is-enabled", "inst.service").out == "masked\n"
    masked = um.systemctl("start", "inst.service")
    assert masked.rc == 1 and "Unit inst.service is masked." in masked.err
    assert um.systemctl("unmask", "inst.service").rc == 0
    assert um.systemctl("is-enabled", "inst.service").out == "disabled\n"
    missing = um.systemctl("enable", "nope.service")
    assert missing.rc == 1 and "nope.service" in missing.err


def test_default_target(um: Manager) -> None:
    assert um.systemctl("get-default").out == "default.target\n"
    assert um.systemctl("set-default", "other.target").rc == 0
    assert um.systemctl("get-default").out == "other.target\n"
    refused = um.systemctl("set-default", "inst.service")
    assert refused.rc != 0


def test_daemon_reload_picks_up_changes(um: Manager) -> None:
    assert um.systemctl("show", "-P", "Description", "static.service").out == "No install section\n"
    um.write_unit("static.service", "[Unit]\nDescription=Edited\n[Service]\nExecStart=/bin/sleep 1000\n")
    assert um.systemctl("daemon-reload").rc == 0
    assert um.systemctl("show", "-P", "Description", "static.service").out == "Edited\n"


def test_daemon_reexec_keeps_services(um: Manager) -> None:
    assert um.systemctl("start", "static.service").rc == 0
    pid = um.systemctl("show", "-P", "MainPID", "static.service").out
    assert um.systemctl("daemon-reexec").rc == 0
    wait_for(lambda: um.systemctl("is-active", "static.service").rc == 0, "manager back after reexec", 10)
    assert um.systemctl("show", "-P", "MainPID", "static.service").out == pid
    wait_for(um.owns_name, "bus name after reexec", 10)  # and on the bus
    assert um.systemctl("is-active", "static.service", force_bus=True).out == "active\n"


def test_system_conf_is_read_again_at_daemon_reload(um: Manager) -> None:
    # /etc/systemd is a tmpfs in this namespace: the admin's tuning, as systemd 252 reads it.
    def write(conf: str) -> None:
        assert um.ns.run(["sh", "-c", f"printf '{conf}' > /etc/systemd/system.conf"], um.env).rc == 0
        assert um.systemctl("daemon-reload").rc == 0

    def environment() -> list[str]:
        return um.systemctl("show", "-P", "Environment").out.split()

    def nofile() -> tuple[str, str]:
        return (um.systemctl("show", "-P", "LimitNOFILESoft", "static.service").out.strip(),
                um.systemctl("show", "-P", "LimitNOFILE", "static.service").out.strip())

    # Without configuration, systemd's: a soft limit select() copes with, and 512K hard where the
    # manager may raise it (this VM's root may not: then the hard limit it was given).
    high = min(524288, int(Path("/proc/sys/fs/nr_open").read_text()))
    raise_hard = f"import resource; resource.setrlimit(resource.RLIMIT_NOFILE, ({high}, {high}))"
    may_raise = subprocess.run([sys.executable, "-c", raise_hard], capture_output=True).returncode == 0
    assert nofile() == ("1024", str(high if may_raise else resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
    try:
        write("[Manager]\nDefaultTimeoutStopSec=7s\nDefaultEnvironment=SITE=lab\nDefaultTasksMax=100\n"
              "DefaultLimitNOFILE=2048:8192\n")
        assert um.systemctl("show", "-P", "DefaultTimeoutStopUSec").out == "7s\n"
        assert "SITE=lab" in environment()
        assert "/etc/systemd/system.conf:4: DefaultTasksMax= is not supported by sysmaster yet, ignoring." in um.log
        assert nofile() == ("2048", "8192")
        write("[Manager]\nDefaultTimeoutStopSec=8s\n")
        assert um.systemctl("show", "-P", "DefaultTimeoutStopUSec").out == "8s\n"
        assert "SITE=lab" not in environment()
    finally:
        um.ns.run(["rm", "-f", "/etc/systemd/system.conf"], um.env)
        assert um.systemctl("daemon-reload").rc == 0
    assert um.systemctl("show", "-P", "DefaultTimeoutStopUSec").out == "1min 30s\n"


def test_sctl_unit_file_verbs_match_systemctl(um: Manager) -> None:
    def prepare(state: str) -> None:
        um.systemctl("unmask", "inst.service")
        um.systemctl("disable", "inst.service")
        if state != "disabled":
            assert um.systemctl({"enabled": "enable", "masked": "mask"}[state], "inst.service").rc == 0

    for verb, before in (("enable", "disabled"), ("disable", "enabled"), ("mask", "enabled"),
                         ("unmask", "masked")):
        prepare(before)
        ours = um.sctl(verb, "inst.service")
        ours_state = um.sctl("is-enabled", "inst.service").out
        prepare(before)
        real = um.systemctl(verb, "inst.service")
        assert (ours.rc, ours.err) == (real.rc, real.err), verb
        assert um.systemctl("is-enabled", "inst.service").out == ours_state, verb
    prepare("disabled")
    assert um.sctl("get-default").out == um.systemctl("get-default").out


def test_set_property_runtime_and_persistent(um: Manager) -> None:
    assert um.systemctl("set-property", "--runtime", "static.service", "CPUWeight=200", "MemoryMax=100M",
                        "TasksMax=50", "Description=Set %i at runtime").rc == 0
    shown = um.systemctl("show", "-p", "CPUWeight,MemoryMax,TasksMax,Description", "static.service").out
    assert shown.splitlines() == ["CPUWeight=200", "MemoryMax=104857600", "TasksMax=50",
                                  "Description=Set %i at runtime"]
    dropin = "/run/systemd/system.control/static.service.d/50-CPUWeight.conf"
    assert dropin in um.systemctl("show", "-P", "DropInPaths", "static.service").out
    cat = um.systemctl("cat", "static.service").out
    assert f"# {dropin}\n" in cat and "[Service]\nCPUWeight=200\n" in cat
    assert "[Unit]\nDescription=Set %%i at runtime\n" in cat
    status = um.systemctl("status", "static.service").out
    assert re.search(r"Drop-In: /run/systemd/system\.control/static\.service\.d\n\s+└─50-CPUWeight\.conf", status)
    # Persistent, and as a percentage; both survive daemon-reload (the control dirs are searched).
    assert um.systemctl("set-property", "static.service", "MemoryMax=50%", "CPUWeight=idle").rc == 0
    persistent = "/etc/systemd/system.control/static.service.d/50-MemoryMaxScale.conf"
    assert "[Service]\nMemoryMax=50%\n" in um.systemctl("cat", "static.service").out
    assert persistent in um.systemctl("show", "-P", "DropInPaths", "static.service").out
    assert um.systemctl("daemon-reload").rc == 0
    after = um.systemctl("show", "-p", "CPUWeight,TasksMax,Description", "static.service").out
    assert after.splitlines() == ["CPUWeight=idle", "TasksMax=50", "Description=Set %i at runtime"]
    assert 0 < int(um.systemctl("show", "-P", "MemoryMax", "static.service").out) < 2**64 - 1


def test_set_property_refusals(um: Manager) -> None:
    unknown = um.systemctl("set-property", "static.service", "Environment=A=1")
    assert unknown.rc == 1
    assert unknown.err == ("Failed to set unit properties on static.service: "
                           "Cannot set property Environment, or unknown property.\n")
    unsupported = um.systemctl("set-property", "static.service", "DisableControllers=cpu")
    assert unsupported.rc == 1 and "DisableControllers= at runtime is not supported by sysmasterd" in unsupported.err
    # systemctl itself refuses cgroup settings for targets; the daemon does too.
    on_target = um.ns.run(["busctl", "call", "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                           "org.freedesktop.systemd1.Manager", "SetUnitProperties", "sba(sv)", "other.target",
                           "true", "1", "CPUWeight", "t", "100"], um.env)
    assert "Cannot set property CPUWeight, or unknown property." in on_target.err
    missing = um.systemctl("set-property", "nope.service", "CPUWeight=100")
    assert missing.rc == 1 and "Unit nope.service not found." in missing.err
    # Nothing of a refused call is applied: the good assignment before the bad one neither.
    assert um.systemctl("set-property", "static.service", "TasksMax=7", "Environment=A=1").rc == 1
    assert um.systemctl("show", "-P", "TasksMax", "static.service").out != "7\n"


def test_presets(um: Manager) -> None:
    # /etc/systemd is a tmpfs of the test's namespace: the preset file is ours alone.
    preset = "mkdir /etc/systemd/system-preset && echo 'disable inst.service' > /etc/systemd/system-preset/10-t.preset"
    assert um.ns.run(["sh", "-c", preset], um.env).rc == 0
    assert um.systemctl("daemon-reload").rc == 0  # systemd reads a unit's preset once per load
    assert um.systemctl("show", "-P", "UnitFilePreset", "inst.service").out == "disabled\n"
    assert um.systemctl("show", "-P", "UnitFilePreset", "static.service").out == "enabled\n"
    assert "; disabled; preset: disabled)" in um.systemctl("status", "inst.service").out
    real = um.systemctl("list-unit-files").out
    assert re.search(r"^inst\.service\s+disabled\s+disabled$", real, re.M)
    assert re.search(r"^static\.service\s+static\s+-$", real, re.M)
    assert um.sctl("list-unit-files").out.split() == real.split()
    assert um.systemctl("enable", "inst.service").rc == 0
    colored = {**um.env, "SYSTEMD_COLORS": "1"}
    real = um.ns.run(["systemctl", "status", "inst.service"], colored).out
    ours = um.ns.run([sys.executable, "-m", "sysmasterd.cli.sctl", "status", "inst.service"], colored).out
    loaded = "; \x1b[0;1;32menabled\x1b[0m; preset: \x1b[0;1;38;5;185mdisabled\x1b[0m)"
    assert loaded in real and loaded in ours
    reset = um.systemctl("preset", "inst.service")
    assert reset.rc == 0, reset.err
    assert "Removed" in reset.err and "default.target.wants/inst.service" in reset.err
    assert um.systemctl("is-enabled", "inst.service").out == "disabled\n"


def test_is_enabled_full_lists_the_links(um: Manager) -> None:
    um.systemctl("unmask", "inst.service")
    assert um.systemctl("enable", "inst.service").rc == 0
    full = um.systemctl("is-enabled", "--full", "inst.service")
    assert full.out == "enabled\n  /etc/systemd/system/default.target.wants/inst.service\n", full.err
    assert um.systemctl("disable", "inst.service").rc == 0
    assert um.systemctl("enable", "--runtime", "inst.service").rc == 0
    runtime = um.systemctl("is-enabled", "--full", "--runtime", "inst.service")
    assert runtime.out == "enabled-runtime\n  /run/systemd/system/default.target.wants/inst.service\n"
    assert um.systemctl("is-enabled", "--full", "inst.service").out == "enabled-runtime\n"  # none in /etc
    assert um.systemctl("disable", "--runtime", "inst.service").rc == 0
    assert um.systemctl("is-enabled", "--full", "static.service").out == "static\n"
