"""Debian's own systemd-ask-password-{console,wall}.path under a system-scope sysmasterd, driven by
the real systemctl: they load, make their directory and wait, as under systemd, and a password
request in that directory starts their services.

The namespace has its own /run (tmpfs), so /run/systemd/ask-password is the test's; the two
services are stand-ins with the real names (the agents would talk to a console), and the unit
directory is the test's alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from bus_harness import Manager, make_manager, wait_for

DEBIAN_UNITS = Path("/lib/systemd/system")
PATHS = ("systemd-ask-password-console.path", "systemd-ask-password-wall.path")
STAND_IN = ("[Unit]\nDescription={what} (stand-in)\nDefaultDependencies=no\n"
            "[Service]\nExecStart=/bin/sleep 1000\n")

pytestmark = pytest.mark.skipif(not all((DEBIAN_UNITS / p).exists() for p in PATHS),
                                reason="needs Debian's systemd-ask-password-*.path")


@pytest.fixture(scope="module")
def sm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Manager]:
    units = {p: (DEBIAN_UNITS / p).read_text() for p in PATHS}
    for p in PATHS:
        service = p.removesuffix(".path") + ".service"
        units[service] = STAND_IN.format(what=service)
    yield from make_manager(tmp_path_factory.mktemp("askpw"), "system", units, private_run=True)


def _sub(sm: Manager, unit: str) -> str:
    return sm.systemctl("show", "-P", "SubState", unit).out.strip()


def test_ask_password_paths_reach_waiting(sm: Manager) -> None:
    assert sm.systemctl("start", *PATHS).rc == 0
    for p in PATHS:
        status = sm.systemctl("status", p)
        assert status.rc == 0, status.out + status.err
        lines = status.out.splitlines()
        assert lines[0].startswith(f"● {p} - ")
        assert any(line.strip().startswith("Active: active (waiting) since ") for line in lines), status.out
        assert any(line.strip() == f"Triggers: ● {p.removesuffix('.path')}.service" for line in lines), status.out
        show = sm.systemctl("show", "-p", "Paths", "-p", "MakeDirectory", "-p", "Unit", "-p", "Result", p).out
        assert show.splitlines() == [f"Unit={p.removesuffix('.path')}.service",
                                     "Paths=/run/systemd/ask-password (DirectoryNotEmpty)",
                                     "MakeDirectory=yes", "Result=success"]
    made = sm.ns.run(["stat", "-c", "%F %a", "/run/systemd/ask-password"], sm.env)
    assert made.out.strip() == "directory 755"


def test_a_request_starts_the_agents(sm: Manager) -> None:
    assert sm.systemctl("start", *PATHS).rc == 0
    request = "/run/systemd/ask-password/ask.test"
    assert sm.ns.run(["touch", request], sm.env).rc == 0
    for p in PATHS:
        service = p.removesuffix(".path") + ".service"
        wait_for(lambda service=service: _sub(sm, service) == "running", f"{service} started")
        assert _sub(sm, p) == "running"
    # The request answered (gone), the agents done: back to waiting.
    assert sm.ns.run(["rm", request], sm.env).rc == 0
    assert sm.systemctl("stop", *(p.removesuffix(".path") + ".service" for p in PATHS)).rc == 0
    for p in PATHS:
        wait_for(lambda p=p: _sub(sm, p) == "waiting", f"{p} waiting again")
