"""D-Bus activation through the manager: the real dbus-daemon with --systemd-activation asks for
the unit a service file names (SystemdService=), as for logind; a unit that cannot start is
reported back at once instead of leaving the client to its timeout."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from bus_harness import Manager, make_manager, wait_for

HOLDER = Path(__file__).resolve().parents[1] / "support" / "bus_name_holder.py"
UNITS = {
    "activated.service": "[Unit]\nDefaultDependencies=no\n[Service]\nType=dbus\nBusName=org.example.Activated\n"
                         f"ExecStart={sys.executable} {HOLDER} org.example.Activated\n",
}
SERVICE_FILES = {
    "org.example.Activated.service": "[D-BUS Service]\nName=org.example.Activated\nExec=/bin/false\n"
                                     "SystemdService=activated.service\n",
    "org.example.Missing.service": "[D-BUS Service]\nName=org.example.Missing\nExec=/bin/false\n"
                                   "SystemdService=missing.service\n",
}


@pytest.fixture(scope="module")
def um(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Manager]:
    for m in make_manager(tmp_path_factory.mktemp("activation"), "user", UNITS):
        services = m.root / "services"
        services.mkdir()
        for name, text in SERVICE_FILES.items():
            (services / name).write_text(text)
        # The same bus, now with service files and activation through the manager.
        assert m.bus_conf is not None
        conf = m.bus_conf.read_text().replace("<auth>", f"<servicedir>{services}</servicedir>\n  <auth>")
        m.bus_conf.write_text(conf)
        m.bus_args = ["--systemd-activation"]
        m.kill_bus_daemon()
        m.run_bus_daemon()
        wait_for(m.owns_name, "sysmasterd back on the new bus", 15)
        yield m


def _ping(m: Manager, name: str) -> tuple[int, float]:
    t0 = time.monotonic()
    r = m.ns.run(["busctl", f"--address={m.bus_address}", "--timeout=20", "call", name, "/",
                  "org.freedesktop.DBus.Peer", "Ping"], m.env, timeout=40)
    return r.rc, time.monotonic() - t0


def test_bus_activation_starts_the_unit(um: Manager) -> None:
    rc, _ = _ping(um, "org.example.Activated")
    assert rc == 0
    assert um.systemctl("is-active", "activated.service").out.strip() == "active"


def test_failed_activation_is_reported_at_once(um: Manager) -> None:
    rc, took = _ping(um, "org.example.Missing")
    assert rc != 0
    assert took < 10  # the client learns at once, not after its 20 s timeout
    assert "D-Bus activation failed for missing.service" in um.log
