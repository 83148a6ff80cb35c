"""Ansible's systemd_service module (ansible-core, local connection, no fact gathering) managing a
service of sysmasterd in both scopes: started/stopped/restarted/reloaded, enabled/disabled, masked,
daemon_reload, and the `status` it returns matching what the daemon reports.

The module drives the real /usr/bin/systemctl, so ansible-playbook runs inside the manager's
namespace with the harness's environment (bus_harness): XDG_RUNTIME_DIR and the session bus for
--user, /run/systemd/private of the namespace for the system scope. One playbook per scope, since
each ansible-playbook start costs a second or two.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bus_harness import Manager, make_manager

pytestmark = pytest.mark.root

ANSIBLE_PLAYBOOK = str(Path(sys.executable).with_name("ansible-playbook"))
WEB = ("[Unit]\nDescription={description}\n[Service]\nExecStart=/bin/sleep 1000\nExecReload=/bin/true\n"
       "[Install]\nWantedBy=default.target\n")
UNITS = {
    "web.service": WEB.format(description="Pretend web server"),
    # What a system service's default dependencies pull in.
    "sysinit.target": "[Unit]\nDescription=System Initialization\n",
    "shutdown.target": "[Unit]\nDescription=System Shutdown\nDefaultDependencies=no\n",
}
# Properties the daemon must report as the module saw them, once the playbook is over.
STABLE = ("Id", "Description", "LoadState", "ActiveState", "SubState", "MainPID", "UnitFileState", "FragmentPath",
          "ExecMainStartTimestamp", "InvocationID", "NRestarts", "Result")


@pytest.fixture(scope="module", params=["user", "system"])
def m(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Manager]:
    yield from make_manager(tmp_path_factory.mktemp(f"ansible-{request.param}"), request.param, UNITS,
                            config_dir=True)


def tasks(m: Manager) -> list[dict[str, Any]]:
    """The play's tasks in order, each named: its result is looked up by that name."""
    steps: list[tuple[str, dict[str, Any]]] = [
        ("start", {"state": "started"}),
        ("start again", {"state": "started"}),
        ("restart", {"state": "restarted"}),
        ("reload", {"state": "reloaded"}),
        ("enable", {"enabled": True}),
        ("enable again", {"enabled": True}),
        ("disable", {"enabled": False}),
        ("stop", {"state": "stopped"}),
        ("stop again", {"state": "stopped"}),
        ("mask", {"masked": True}),
        ("start masked", {"state": "started"}),
        ("unmask", {"masked": False}),
    ]
    out = [{"name": name, "ansible.builtin.systemd_service": {"name": "web.service", "scope": m.scope, **args},
            "ignore_errors": name == "start masked"} for name, args in steps]
    out += [
        {"name": "edit", "ansible.builtin.copy": {"dest": str(m.units / "web.service"),
                                                  "content": WEB.format(description="Edited web server")}},
        {"name": "daemon-reload and start", "ansible.builtin.systemd_service": {
            "name": "web.service", "scope": m.scope, "daemon_reload": True, "state": "started"}},
        {"name": "status", "ansible.builtin.systemd_service": {"name": "web.service", "scope": m.scope,
                                                               "state": "started"}},
    ]
    return out


def run_playbook(m: Manager) -> dict[str, dict[str, Any]]:
    """Task name -> the module's result. ansible-core has no JSON output of its own any more (that
    callback is in a collection): each task registers its result, and a last one writes them all."""
    steps = tasks(m)
    for i, task in enumerate(steps):
        task["register"] = f"step{i}"
    collected = ", ".join(f"{json.dumps(task['name'])}: step{i}" for i, task in enumerate(steps))
    report = m.root / "results.json"
    steps.append({"name": "report", "ansible.builtin.copy": {"dest": str(report),
                                                            "content": "{{ {" + collected + "} | to_json }}"}})
    play = [{"hosts": "localhost", "connection": "local", "gather_facts": False,
             "vars": {"ansible_python_interpreter": sys.executable}, "tasks": steps}]
    playbook = m.root / "playbook.json"  # JSON is YAML
    playbook.write_text(json.dumps(play))
    # Pipelining: each module goes to its interpreter's stdin, not through a temporary file. No
    # ansible.cfg (a missing file named): none from the checkout or a home directory applies.
    env = {**m.env, "ANSIBLE_PIPELINING": "1", "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_LOCAL_TEMP": str(m.root / "ansible-tmp"), "ANSIBLE_CONFIG": str(m.root / "no-ansible.cfg")}
    r = m.ns.run([ANSIBLE_PLAYBOOK, "-i", "localhost,", str(playbook)], env, timeout=120)
    assert r.rc == 0, r.out + r.err
    results: dict[str, dict[str, Any]] = json.loads(report.read_text())
    return results


@pytest.fixture(scope="module")
def results(m: Manager) -> dict[str, dict[str, Any]]:
    return run_playbook(m)


def test_state_changes(results: dict[str, dict[str, Any]]) -> None:
    changed = {name: r.get("changed") for name, r in results.items()}
    assert changed == {
        "start": True, "start again": False, "restart": True, "reload": True,
        "enable": True, "enable again": False, "disable": True, "stop": True, "stop again": False,
        "mask": True, "start masked": False, "unmask": True,
        "edit": True, "daemon-reload and start": True, "status": False,
    }, results
    assert not any(r.get("failed") for name, r in results.items() if name != "start masked")
    # The status each task saw is the state the one before it left.
    before = {name: r["status"]["ActiveState"] for name, r in results.items() if "status" in r}
    assert before["start"] == "inactive" and before["start again"] == "active" and before["stop again"] == "inactive"
    first, restarted = (int(results[name]["status"]["MainPID"]) for name in ("restart", "reload"))
    assert 0 < first != restarted > 0
    assert results["reload"]["state"] == "started"


def test_enable_disable_mask(m: Manager, results: dict[str, dict[str, Any]]) -> None:
    assert results["enable"]["enabled"] is True and results["disable"]["enabled"] is False
    assert results["enable"]["status"]["UnitFileState"] == "disabled"
    assert results["disable"]["status"]["UnitFileState"] == "enabled"
    assert results["start masked"]["failed"] is True
    assert "Unit web.service is masked." in results["start masked"]["msg"]
    assert results["unmask"]["status"]["LoadState"] == "masked"
    assert m.systemctl("is-enabled", "web.service").out == "disabled\n"


def test_daemon_reload_and_status_facts(m: Manager, results: dict[str, dict[str, Any]]) -> None:
    assert results["daemon-reload and start"]["status"]["Description"] == "Edited web server"
    status = results["status"]["status"]
    shown = m.systemctl("show", "web.service", *(f"-p{p}" for p in STABLE)).out
    assert {p: status[p] for p in STABLE} == dict(line.split("=", 1) for line in shown.splitlines())
    assert status["ActiveState"] == "active" and int(status["MainPID"]) > 0
