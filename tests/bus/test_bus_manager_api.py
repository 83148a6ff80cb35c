"""The rest of systemd 252's Manager API, driven by the real clients against sysmasterd --user on a
private bus: systemd-analyze dump (DumpByFileDescriptor, an fd passed over the bus and the private
socket; Dump and DumpUnitsMatchingPatterns), busctl tree over the whole object tree,
systemctl add-wants/add-requires (AddDependencyUnitFiles), GetUnitByInvocationID,
GetUnitByControlGroup, EnqueueUnitJob, ListUnitFilesByPatterns, freeze/thaw and clean."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from bus_harness import Manager, Result, make_manager

pytestmark = pytest.mark.root

UNITS = {
    "sleeper.service": "[Unit]\nDescription=Sleeps\n[Service]\nExecStart=/bin/sleep 1000\n",
    "app.service": "[Service]\nExecStart=/bin/sleep 1000\n[Install]\nWantedBy=default.target\n",
    "extra.target": "[Unit]\nDescription=Extra\n",
}


@pytest.fixture(scope="module")
def um(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Manager]:
    yield from make_manager(tmp_path_factory.mktemp("managerapi"), "user", UNITS, config_dir=True)


def analyze(um: Manager, *args: str, via_bus: bool = False) -> Result:
    env = dict(um.env)
    if via_bus:  # no private socket where the client looks: it takes the bus
        env["XDG_RUNTIME_DIR"] = str(um.root / "nowhere")
    return um.ns.run(["systemd-analyze", "--user", *args], env)


def busctl(um: Manager, *args: str) -> Result:
    return um.ns.run(["busctl", "--user", *args], um.env)


@pytest.mark.parametrize("via_bus", [False, True])
def test_analyze_dump(um: Manager, via_bus: bool) -> None:
    assert um.systemctl("start", "sleeper.service").rc == 0
    r = analyze(um, "dump", via_bus=via_bus)
    assert r.rc == 0, r.err
    assert r.out.startswith("Manager: sysmasterd 252\n")
    assert "-> Unit sleeper.service:\n\tDescription: Sleeps\n" in r.out
    assert "-> Unit basic.target:" in r.out
    only = analyze(um, "dump", "sleep*.service", "extra.targe?", via_bus=via_bus)
    assert only.rc == 0, only.err
    assert "Manager:" not in only.out and "-> Unit basic.target" not in only.out
    assert "-> Unit sleeper.service:" in only.out


def test_dump_as_string(um: Manager) -> None:
    r = busctl(um, "call", "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
               "org.freedesktop.systemd1.Manager", "DumpUnitsMatchingPatterns", "as", "1", "basic.target")
    assert r.rc == 0, r.err
    assert r.out.startswith('s "-> Unit basic.target:')
    r = busctl(um, "call", "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
               "org.freedesktop.systemd1.Manager", "Dump")
    assert r.rc == 0 and r.out.startswith('s "Manager: sysmasterd'), r.err


def test_busctl_tree(um: Manager) -> None:
    assert um.systemctl("start", "sleeper.service").rc == 0
    r = busctl(um, "tree", "--list", "org.freedesktop.systemd1")
    assert r.rc == 0, r.err
    paths = r.out.split()
    for path in ("/", "/org/freedesktop/LogControl1", "/org/freedesktop/systemd1",
                 "/org/freedesktop/systemd1/unit", "/org/freedesktop/systemd1/job",
                 "/org/freedesktop/systemd1/unit/sleeper_2eservice", "/org/freedesktop/systemd1/unit/basic_2etarget"):
        assert path in paths
    r = busctl(um, "introspect", "org.freedesktop.systemd1", "/org/freedesktop/systemd1/unit/sleeper_2eservice")
    assert r.rc == 0 and "org.freedesktop.systemd1.Service" in r.out, r.err
    assert busctl(um, "introspect", "org.freedesktop.systemd1", "/org/freedesktop/systemd1/job").rc == 0
