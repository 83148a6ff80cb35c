"""The D-Bus face seen by a D-Bus client library (dbus-fast) and by raw sockets: merged GetAll,
exact wire types, error names, exactly one JobRemoved per job, bad input never hurting the daemon,
and survival under a flood of clients and a client that stops reading."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Iterator
from typing import Any

import psutil
import pytest
from bus_harness import Manager, make_manager, wait_for
from dbus_fast import DBusError, Message, MessageType
from dbus_fast.aio import MessageBus

DEST = "org.freedesktop.systemd1"
MANAGER_PATH = "/org/freedesktop/systemd1"
MANAGER = "org.freedesktop.systemd1.Manager"
SLEEPY = "/org/freedesktop/systemd1/unit/sleepy_2eservice"

UNITS = {
    "sleepy.service": "[Unit]\nDescription=Sleepy\n[Service]\nExecStart=/bin/sleep 1000\n",
    "quick.service": "[Unit]\nDescription=Quick\n[Service]\nType=oneshot\nExecStart=/bin/true\n",
    # Long enough in "activating" for a change signal to go out while it lasts (signals carry the
    # state of their loop turn, as systemd's D-Bus queue does).
    "watched.service": "[Unit]\nDescription=Watched\n[Service]\nType=oneshot\nExecStart=/bin/sleep 0.3\n",
}


@pytest.fixture(scope="module")
def um(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Manager]:
    yield from make_manager(tmp_path_factory.mktemp("proto"), "user", UNITS)


def call(bus: MessageBus, path: str, iface: str, member: str, sig: str = "", body: list[Any] | None = None
         ) -> Any:
    dest = "org.freedesktop.DBus" if iface == "org.freedesktop.DBus" else DEST
    return bus.call(Message(destination=dest, path=path, interface=iface, member=member, signature=sig,
                            body=body or []))


async def connect(um: Manager) -> MessageBus:
    return await MessageBus(bus_address=um.bus_address).connect()


def daemon_pid(um: Manager) -> int:
    assert um.proc is not None
    nsenter = psutil.Process(um.proc.pid)
    return nsenter.children()[0].pid if nsenter.children() else nsenter.pid


def test_getall_merges_interfaces_with_exact_types(um: Manager) -> None:
    async def run() -> None:
        bus = await connect(um)
        reply = await call(bus, SLEEPY, "org.freedesktop.DBus.Properties", "GetAll", "s", [""])
        props = reply.body[0]
        assert props["Id"].value == "sleepy.service"  # Unit
        assert props["Type"].value == "simple"  # Service
        assert props["MainPID"].signature == "u"
        assert props["ExecStart"].signature == "a(sasbttttuii)"
        assert props["ActiveEnterTimestamp"].signature == "t"
        only_unit = await call(bus, SLEEPY, "org.freedesktop.DBus.Properties", "GetAll", "s",
                               ["org.freedesktop.systemd1.Unit"])
        assert "Type" not in only_unit.body[0] and "Id" in only_unit.body[0]
        xml = await call(bus, SLEEPY, "org.freedesktop.DBus.Introspectable", "Introspect")
        assert 'interface name="org.freedesktop.systemd1.Service"' in xml.body[0]
        bus.disconnect()

    asyncio.run(run())


@pytest.mark.parametrize(
    ("member", "sig", "body", "error", "text"),
    [
        ("StartUnit", "ss", ["bad name!", "replace"], "org.freedesktop.DBus.Error.InvalidArgs", "not valid"),
        ("StartUnit", "ss", ["sleepy.service", "bogus"], "org.freedesktop.DBus.Error.InvalidArgs",
         "Job mode bogus invalid."),
        ("StartUnit", "s", ["sleepy.service"], "org.freedesktop.DBus.Error.InvalidArgs", "expecting 'ss'"),
        ("GetUnit", "s", ["never-loaded.service"], "org.freedesktop.systemd1.NoSuchUnit", "not loaded"),
        ("GetJob", "u", [4242], "org.freedesktop.systemd1.NoSuchJob", "Job 4242 does not exist."),
        ("KillUnit", "ssi", ["sleepy.service", "everyone", 15], "org.freedesktop.DBus.Error.InvalidArgs", "who"),
        ("KillUnit", "ssi", ["sleepy.service", "all", 999], "org.freedesktop.DBus.Error.InvalidArgs", "Signal"),
        ("PowerOff", "", [], "org.freedesktop.DBus.Error.NotSupported",
         "Powering off is only supported for system managers."),
        ("KExec", "", [], "org.freedesktop.DBus.Error.NotSupported", "only supported for system managers"),
        ("StartTransientUnit", "ssa(sv)a(sa(sv))", ["t.service", "fail", [], []],
         "org.freedesktop.systemd1.BadUnitSetting", "Unit t.service has a bad unit file setting."),
        ("NoSuchMethod", "", [], "org.freedesktop.DBus.Error.UnknownMethod", "NoSuchMethod"),
    ],
)
def test_bad_requests_get_systemd_errors(um: Manager, member: str, sig: str, body: list[Any], error: str,
                                         text: str) -> None:
    async def run() -> Message:
        bus = await connect(um)
        try:
            return await call(bus, MANAGER_PATH, MANAGER, member, sig, body)
        finally:
            bus.disconnect()

    reply = asyncio.run(run())
    assert reply.message_type is MessageType.ERROR
    assert reply.error_name == error
    assert text in reply.body[0]
    assert um.systemctl("is-system-running").rc in (0, 1)  # still answering


def test_one_job_removed_per_job(um: Manager) -> None:
    async def run() -> dict[str, list[str]]:
        bus = await connect(um)
        removed: dict[str, list[str]] = {}

        def on_message(msg: Message) -> None:
            if msg.member == "JobRemoved":
                removed.setdefault(msg.body[1], []).append(msg.body[3])

        bus.add_message_handler(on_message)
        await call(bus, "/org/freedesktop/DBus", "org.freedesktop.DBus", "AddMatch", "s",
                   ["type='signal',interface='org.freedesktop.systemd1.Manager',member='JobRemoved'"])
        await call(bus, MANAGER_PATH, MANAGER, "Subscribe")
        paths = []
        for member, unit in [("StartUnit", "quick.service"), ("StartUnit", "sleepy.service"),
                             ("StartUnit", "sleepy.service"), ("StopUnit", "sleepy.service"),
                             ("StartUnit", "missing-too.service")]:
            reply = await call(bus, MANAGER_PATH, MANAGER, member, "ss", [unit, "replace"])
            if reply.message_type is MessageType.METHOD_RETURN:
                paths.append(reply.body[0])
        for _ in range(100):
            if all(p in removed for p in paths):
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)  # a duplicate would arrive by now
        bus.disconnect()
        return {p: removed.get(p, []) for p in paths}

    removed = asyncio.run(run())
    assert len(removed) == 4
    assert all(len(results) == 1 for results in removed.values()), removed
    assert all(results == ["done"] for results in removed.values())


def test_flood_of_fifty_clients(um: Manager) -> None:
    rss_before = psutil.Process(daemon_pid(um)).memory_info().rss

    async def client(i: int) -> int:
        bus = await connect(um)
        done = 0
        try:
            for _ in range(20):
                pending = [
                    call(bus, SLEEPY, "org.freedesktop.DBus.Properties", "GetAll", "s", [""]),
                    call(bus, MANAGER_PATH, MANAGER, "ListUnits"),
                    call(bus, MANAGER_PATH, MANAGER, "StartUnit", "ss", ["quick.service", "replace"]),
                ]
                for reply in await asyncio.gather(*pending):
                    if reply.message_type is MessageType.METHOD_RETURN:
                        done += 1
        finally:
            bus.disconnect()
        return done

    async def run() -> list[int]:
        return await asyncio.gather(*(client(i) for i in range(50)))

    results = asyncio.run(run())
    assert sum(results) == 50 * 20 * 3
    rss_after = psutil.Process(daemon_pid(um)).memory_info().rss
    assert rss_after - rss_before < 64 << 20
    assert um.systemctl("is-active", "sleepy.service").rc in (0, 3)


def _raw_private(um: Manager) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(str(um.private_socket_host))
    sock.sendall(b"\0AUTH EXTERNAL " + str(os.getuid()).encode().hex().encode() + b"\r\nBEGIN\r\n")
    assert sock.recv(100).startswith(b"OK ")
    return sock


def test_client_that_stops_reading(um: Manager) -> None:
    pid = daemon_pid(um)
    rss_before = psutil.Process(pid).memory_info().rss
    greedy = _raw_private(um)
    greedy.setblocking(False)
    request = Message(destination=DEST, path=MANAGER_PATH, interface=MANAGER, member="ListUnits", serial=1)
    data = bytes(request._marshall(False))
    sent = 0
    for _ in range(20000):  # ~ many MB of replies that nobody reads
        try:
            greedy.send(data)
            sent += 1
        except BlockingIOError:
            break
    assert sent > 100
    # The daemon keeps serving everyone else, and its memory stays bounded.
    assert um.systemctl("is-active", "sleepy.service").rc in (0, 3)
    rss_after = psutil.Process(pid).memory_info().rss
    assert rss_after - rss_before < 48 << 20
    greedy.close()
    assert um.systemctl("list-units").rc == 0


def test_garbage_on_private_socket(um: Manager) -> None:
    for payload in (b"\0AUTH EXTERNAL zz\r\n", b"hello\r\n" * 20, b"\0AUTH EXTERNAL 30\r\nBEGIN\r\n" + b"\xff" * 64):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(str(um.private_socket_host))
        sock.sendall(payload)
        sock.close()
    assert um.systemctl("is-active", "sleepy.service").rc in (0, 3)


def test_dbus_error_type_is_dbus_fast_compatible() -> None:
    # The router builds replies with dbus-fast's own DBusError, so its name/text rules apply.
    err = DBusError("org.freedesktop.systemd1.NoSuchUnit", "Unit x.service not found.")
    assert err.type == "org.freedesktop.systemd1.NoSuchUnit"


def test_reconnects_when_the_bus_restarts(um: Manager) -> None:
    um.kill_bus_daemon()
    # The private socket keeps working while there is no bus.
    assert um.systemctl("is-active", "quick.service").rc == 3
    um.run_bus_daemon()
    wait_for(um.owns_name, "sysmasterd to own its name again", 10)
    assert um.systemctl("start", "sleepy.service", force_bus=True).rc == 0
    assert um.systemctl("is-active", "sleepy.service", force_bus=True).out == "active\n"


def test_properties_changed_follows_the_unit(um: Manager) -> None:
    quick = "/org/freedesktop/systemd1/unit/watched_2eservice"

    async def run() -> list[tuple[str, dict[str, Any]]]:
        bus = await connect(um)
        seen: list[tuple[str, dict[str, Any]]] = []

        def on_message(msg: Message) -> None:
            if msg.member == "PropertiesChanged" and msg.path == quick:
                seen.append((msg.body[0], {k: v.value for k, v in msg.body[1].items()}))

        bus.add_message_handler(on_message)
        await call(bus, "/org/freedesktop/DBus", "org.freedesktop.DBus", "AddMatch", "s",
                   [f"type='signal',interface='org.freedesktop.DBus.Properties',path='{quick}'"])
        # Unit signals reach the bus only for subscribers; job signals reach the job's requester.
        await call(bus, MANAGER_PATH, MANAGER, "StartUnit", "ss", ["watched.service", "replace"])
        await asyncio.sleep(0.8)  # that run is over before the subscribed one starts
        unsubscribed = list(seen)
        await call(bus, MANAGER_PATH, MANAGER, "Subscribe")
        await call(bus, MANAGER_PATH, MANAGER, "StartUnit", "ss", ["watched.service", "replace"])
        for _ in range(100):
            if any(p.get("ActiveState") == "inactive" and p.get("Job") == [0, "/"] for _i, p in seen):
                break
            await asyncio.sleep(0.05)
        bus.disconnect()
        assert unsubscribed == []
        return seen

    seen = asyncio.run(run())
    unit_changes = [p for iface, p in seen if iface == "org.freedesktop.systemd1.Unit"]
    assert any(p["ActiveState"] == "activating" or p["Job"][0] != 0 for p in unit_changes), seen
    assert unit_changes[-1]["ActiveState"] == "inactive"  # a oneshot: back to inactive when done
    assert any(iface == "org.freedesktop.systemd1.Service" for iface, _ in seen)
