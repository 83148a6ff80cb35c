"""User scope unit files through the real systemctl --user: enable/disable/is-enabled in
~/.config/systemd/user, set-property into the user control dirs."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from bus_harness import Manager, make_manager

UNITS = {
    "inst.service": (
        "[Unit]\nDescription=Installable\n[Service]\nExecStart=/bin/sleep 1000\n[Install]\nWantedBy=default.target\n"
    ),
}


@pytest.fixture(scope="module")
def um(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Manager]:
    yield from make_manager(tmp_path_factory.mktemp("userfiles"), "user", UNITS, config_dir=True)


def test_user_enable_disable(um: Manager) -> None:
    assert um.systemctl("is-enabled", "inst.service").out == "disabled\n"
    enable = um.systemctl("enable", "inst.service")
    assert enable.rc == 0, enable.err
    link = um.root / "home/.config/systemd/user/default.target.wants/inst.service"
    assert f"Created symlink {link} → " in enable.err
    assert um.systemctl("is-enabled", "inst.service").out == "enabled\n"
    assert re.search(r"^inst\.service\s+enabled", um.systemctl("list-unit-files", "--no-legend").out, re.M)
    assert um.systemctl("disable", "inst.service").rc == 0
    assert not link.exists()
    assert um.systemctl("is-enabled", "inst.service").out == "disabled\n"


def test_user_set_property(um: Manager) -> None:
    assert um.systemctl("set-property", "--runtime", "inst.service", "TasksMax=20").rc == 0
    runtime = um.root / "xdg/systemd/user.control/inst.service.d/50-TasksMax.conf"
    assert runtime.read_text().endswith("[Service]\nTasksMax=20\n")
    assert um.systemctl("set-property", "inst.service", "Description=Persistent").rc == 0
    persistent = um.root / "home/.config/systemd/user.control/inst.service.d/50-Description.conf"
    assert persistent.read_text().endswith("[Unit]\nDescription=Persistent\n")
    assert um.systemctl("daemon-reload").rc == 0
    shown = um.systemctl("show", "-p", "TasksMax,Description", "inst.service").out
    assert shown.splitlines() == ["TasksMax=20", "Description=Persistent"]
