"""Benchmark of sysmasterd's D-Bus face, side by side with a bare dbus-fast echo service.

Sets up a private session bus, 2000 unit files and `sysmasterd --user` in a temp dir, then
measures: `systemctl --user is-active` latency (private socket and bus), GetAll("") of a service
and ListUnits with 2000 loaded units against an echo service returning payloads of the same
shape and size, and a 50-client flood (calls/s, daemon RSS before/after). Prints a table.

Run: .venv/bin/python bench/bench_bus.py [--units 2000] [--rounds 200]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

import psutil
from dbus_fast import Message, Variant
from dbus_fast.aio import MessageBus
from dbus_fast.annotations import DBusDict, DBusSignature, DBusStr
from dbus_fast.service import ServiceInterface, method

REPO = Path(__file__).resolve().parents[1]
DEST = "org.freedesktop.systemd1"
MANAGER_PATH = "/org/freedesktop/systemd1"
MANAGER = "org.freedesktop.systemd1.Manager"
ECHO = "org.sysmaster.BenchEcho"
BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><type>session</type><listen>unix:path={path}</listen><auth>EXTERNAL</auth>
<policy context="default"><allow send_destination="*"/><allow eavesdrop="true"/><allow own="*"/></policy>
</busconfig>
"""


UnitRows = Annotated[list[Any], DBusSignature("a(ssssssouso)")]


class Echo(ServiceInterface):
    """Returns prepared payloads: the cost of D-Bus itself, with no model behind it."""

    def __init__(self, getall: dict[str, Variant], units: list[list[Any]]) -> None:
        super().__init__(ECHO)
        self._getall = getall
        self._units = units

    @method("GetAll")
    def get_all(self, interface: DBusStr) -> DBusDict:
        return self._getall

    @method("ListUnits")
    def list_units(self) -> UnitRows:
        return self._units


def msg(dest: str, path: str, iface: str, member: str, sig: str = "", body: list[Any] | None = None) -> Message:
    return Message(destination=dest, path=path, interface=iface, member=member, signature=sig, body=body or [])


async def timed(bus: MessageBus, make: Any, rounds: int) -> float:
    """Median round trip in ms."""
    samples = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        reply = await bus.call(make())
        samples.append((time.perf_counter() - t0) * 1000)
        assert reply.error_name is None, reply.body
    return statistics.median(samples)


def systemctl_latency(env: dict[str, str], rounds: int, force_bus: bool) -> float:
    env = {**env, "SYSTEMCTL_FORCE_BUS": "1"} if force_bus else env
    samples = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        subprocess.run(["systemctl", "--user", "is-active", "unit-1.service"], env=env, capture_output=True)
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples)


async def flood(address: str, clients: int, per_client: int) -> float:
    async def one() -> int:
        bus = await MessageBus(bus_address=address).connect()
        for _ in range(per_client):
            await asyncio.gather(
                bus.call(msg(DEST, "/org/freedesktop/systemd1/unit/unit_2d1_2eservice",
                             "org.freedesktop.DBus.Properties", "GetAll", "s", [""])),
                bus.call(msg(DEST, MANAGER_PATH, MANAGER, "GetUnit", "s", ["unit-1.service"])),
                bus.call(msg(DEST, MANAGER_PATH, MANAGER, "StartUnit", "ss", ["quick.service", "replace"])),
            )
        bus.disconnect()
        return per_client * 3

    t0 = time.perf_counter()
    total = sum(await asyncio.gather(*(one() for _ in range(clients))))
    return total / (time.perf_counter() - t0)


async def bench(tmp: Path, n_units: int, rounds: int) -> list[tuple[str, str, str, str]]:
    units = tmp / "units"
    units.mkdir()
    for i in range(n_units):
        text = f"[Unit]\nDescription=Unit {i}\n[Service]\nExecStart=/bin/sleep 1000\n"
        (units / f"unit-{i}.service").write_text(text)
    (units / "quick.service").write_text("[Service]\nType=oneshot\nExecStart=/bin/true\n")
    # After= loads every unit at start (and keeps it listed) without starting it.
    after = " ".join(f"unit-{i}.service" for i in range(n_units))
    (units / "default.target").write_text(f"[Unit]\nDescription=Default\nAfter={after}\n")
    (units / "basic.target").write_text("[Unit]\nDescription=Basic\n")
    xdg = tmp / "xdg"
    xdg.mkdir(mode=0o700)
    conf = tmp / "bus.conf"
    conf.write_text(BUS_CONFIG.format(path=tmp / "bus"))
    address = f"unix:path={tmp / 'bus'}"
    env = {**os.environ, "DBUS_SESSION_BUS_ADDRESS": address, "XDG_RUNTIME_DIR": str(xdg),
           "HOME": str(tmp), "PYTHONPATH": str(REPO), "SYSTEMD_UNIT_PATH": f"{units}:"}
    procs = [subprocess.Popen(["dbus-daemon", f"--config-file={conf}", "--nofork", "--nopidfile"])]
    while not (tmp / "bus").exists():
        time.sleep(0.02)
    with open(tmp / "sysmasterd.log", "wb") as log:
        daemon = subprocess.Popen([sys.executable, "-m", "sysmasterd.core.main", "--user", "--unit-path",
                                   str(units), "--runtime-dir", str(tmp / "rt")], env=env, stdout=log, stderr=log)
    procs.append(daemon)
    try:
        bus = await MessageBus(bus_address=address).connect()
        for _ in range(500):
            reply = await bus.call(msg("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                       "NameHasOwner", "s", [DEST]))
            if reply.body[0]:
                break
            await asyncio.sleep(0.02)
        t0 = time.perf_counter()
        for i in range(n_units):
            await bus.call(msg(DEST, MANAGER_PATH, MANAGER, "LoadUnit", "s", [f"unit-{i}.service"]))
        load_ms = (time.perf_counter() - t0) * 1000
        await bus.call(msg(DEST, MANAGER_PATH, MANAGER, "StartUnit", "ss", ["unit-1.service", "replace"]))
        unit_path = "/org/freedesktop/systemd1/unit/unit_2d1_2eservice"
        getall = (await bus.call(msg(DEST, unit_path, "org.freedesktop.DBus.Properties", "GetAll", "s", [""]))).body[0]
        listing = (await bus.call(msg(DEST, MANAGER_PATH, MANAGER, "ListUnits"))).body[0]

        # The echo runs in its own process, like sysmasterd, serving the same payloads.
        payload = tmp / "payload.pickle"
        payload.write_bytes(pickle.dumps(({k: (v.signature, v.value) for k, v in getall.items()}, listing)))
        procs.append(subprocess.Popen([sys.executable, __file__, "--echo-server", address, str(payload)]))
        for _ in range(500):
            reply = await bus.call(msg("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                       "NameHasOwner", "s", [ECHO]))
            if reply.body[0]:
                break
            await asyncio.sleep(0.02)

        rows = []

        async def pair(label: str, ours: Any, theirs: Any) -> None:
            a = await timed(bus, ours, rounds)
            b = await timed(bus, theirs, rounds)
            rows.append((label, f"{a:.3f} ms", f"{b:.3f} ms", f"{a / b:.2f}x"))

        await pair("Peer.Ping", lambda: msg(DEST, MANAGER_PATH, "org.freedesktop.DBus.Peer", "Ping"),
                   lambda: msg(ECHO, "/bench", "org.freedesktop.DBus.Peer", "Ping"))
        await pair(f"GetAll(\"\") ({len(getall)} props)",
                   lambda: msg(DEST, unit_path, "org.freedesktop.DBus.Properties", "GetAll", "s", [""]),
                   lambda: msg(ECHO, "/bench", ECHO, "GetAll", "s", [""]))
        await pair(f"ListUnits ({len(listing)} units)", lambda: msg(DEST, MANAGER_PATH, MANAGER, "ListUnits"),
                   lambda: msg(ECHO, "/bench", ECHO, "ListUnits"))
        pid = daemon.pid
        rows.append((f"LoadUnit x{n_units} (loaded at start)", f"{load_ms / n_units:.3f} ms/unit", "", ""))
        rows.append(("systemctl is-active (private socket)", f"{systemctl_latency(env, 30, False):.1f} ms", "", ""))
        rows.append(("systemctl is-active (session bus)", f"{systemctl_latency(env, 30, True):.1f} ms", "", ""))
        rss_before = psutil.Process(pid).memory_info().rss
        rate = await flood(address, 50, 20)
        rss_after = psutil.Process(pid).memory_info().rss
        rows.append(("flood: 50 clients x 60 calls", f"{rate:.0f} calls/s", "", ""))
        rows.append(("daemon RSS before/after flood", f"{rss_before / 2**20:.1f} MiB",
                     f"{rss_after / 2**20:.1f} MiB", ""))
        bus.disconnect()
        return rows
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()


async def echo_server(address: str, payload: Path) -> None:
    raw_getall, listing = pickle.loads(payload.read_bytes())
    bus = await MessageBus(bus_address=address).connect()
    bus.export("/bench", Echo({k: Variant(sig, v) for k, (sig, v) in raw_getall.items()}, listing))
    await bus.request_name(ECHO)
    await bus.wait_for_disconnect()


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--echo-server":
        asyncio.run(echo_server(sys.argv[2], Path(sys.argv[3])))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--units", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=200)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-bus-") as tmp:
        rows = asyncio.run(bench(Path(tmp), args.units, args.rounds))
    header = ("measurement", "sysmasterd", "dbus-fast echo", "ratio")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    for r in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
