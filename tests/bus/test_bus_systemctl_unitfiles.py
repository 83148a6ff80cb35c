"""Unit files and daemon lifecycle through the real systemctl: enable/disable/mask/unmask,
is-enabled, list-unit-files, get/set-default, daemon-reload, daemon-reexec.

System scope, with a tmpfs over /etc/systemd/system in the test's mount namespace: that is where
enable/mask/set-default write."""

from __future__ import annotations

import re
from collections.abc import Iterator

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
