"""Socket units driven by the real systemctl (user scope): activation with sd_listen_fds(3)
semantics, Accept=yes instances named as systemd names them, a service started directly, the
trigger limit, and what status/show/list-sockets print."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from bus_harness import Manager, make_manager, wait_for

# sd_listen_fds() in Python: LISTEN_PID must be us, fds start at 3, names in LISTEN_FDNAMES.
SERVER = """import os, socket
assert os.environ["LISTEN_PID"] == str(os.getpid())
n = int(os.environ["LISTEN_FDS"])
names = os.environ["LISTEN_FDNAMES"].split(":")
socks = [socket.socket(fileno=3 + i) for i in range(n)]
while True:
    c, _ = socks[0].accept()
    c.sendall(f"{n} {':'.join(names)} {socks[1].getsockname()[1] if n > 1 else 0}".encode())
    c.close()
"""


def units(tmp: Path) -> dict[str, str]:
    server = tmp / "server.py"
    server.write_text(SERVER)
    return {
        "echo.socket": f"[Unit]\nDescription=Echo socket\n[Socket]\nListenStream={tmp}/echo.sock\n"
                       "ListenDatagram=127.0.0.1:47123\nFileDescriptorName=main\n",
        "echo.service": f"[Service]\nExecStart={sys.executable} {server}\n",
        "direct.socket": f"[Socket]\nListenStream={tmp}/direct.sock\n",
        "direct.service": f"[Unit]\nRequires=direct.socket\n[Service]\nExecStart={sys.executable} {server}\n",
        "acc.socket": "[Socket]\nListenStream=127.0.0.1:47124\nAccept=yes\nMaxConnections=2\n",
        "acc@.service": "[Service]\nExecStart=/bin/sh -c 'echo $0 $REMOTE_ADDR; exec cat' %i\nStandardInput=socket\n",
        "storm.socket": f"[Socket]\nListenStream={tmp}/storm.sock\nTriggerLimitBurst=3\n",
        "storm.service": "[Service]\nExecStart=/bin/true\n",
        # Debian's user dbus.service, on a socket of our own: dbus-daemon takes it with sd_listen_fds().
        "peerbus.socket": f"[Socket]\nListenStream={tmp}/peerbus\n",
        "peerbus.service": "[Service]\nExecStart=/usr/bin/dbus-daemon --session --address=systemd: --nofork "
                           "--nopidfile --systemd-activation --syslog-only\n",
    }


@pytest.fixture(scope="module")
def sm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Manager]:
    tmp = tmp_path_factory.mktemp("sock")
    yield from make_manager(tmp, "user", units(tmp))


def _ask(path: Path) -> str:
    with socket.socket(socket.AF_UNIX) as c:
        c.settimeout(10)
        c.connect(str(path))
        return c.recv(200).decode()


def _sub(sm: Manager, unit: str) -> str:
    return sm.systemctl("show", "-p", "SubState", "--value", unit).out.strip()


def test_accept_no_activates_the_service_with_its_fds(sm: Manager) -> None:
    assert sm.systemctl("start", "echo.socket").rc == 0
    status = sm.systemctl("status", "echo.socket").out
    assert "Active: active (listening)" in status
    assert "Triggers: ● echo.service" in status
    assert f"Listen: {sm.root}/echo.sock (Stream)" in status and "127.0.0.1:47123 (Datagram)" in status
    assert _ask(sm.root / "echo.sock") == "2 main:main 47123"
    wait_for(lambda: _sub(sm, "echo.socket") == "running", "socket running")
    assert "TriggeredBy: ● echo.socket" in sm.systemctl("status", "echo.service").out
    # The service ends: the socket listens again and the next connection starts it anew.
    assert sm.systemctl("stop", "echo.service").rc == 0
    wait_for(lambda: _sub(sm, "echo.socket") == "listening", "socket listening")
    assert _ask(sm.root / "echo.sock") == "2 main:main 47123"
    show = sm.systemctl("show", "echo.socket", "-p", "Listen", "-p", "FileDescriptorName", "-p", "Triggers",
                        "-p", "Before", "-p", "Accept", "-p", "TriggerLimitBurst").out
    assert f"Listen={sm.root}/echo.sock (Stream)" in show and "FileDescriptorName=main" in show
    assert "Triggers=echo.service" in show and "echo.service" in show.split("Before=")[1]
    assert "Accept=no" in show and "TriggerLimitBurst=20" in show
    listing = sm.systemctl("list-sockets").out
    assert f"{sm.root}/echo.sock" in listing and "echo.socket" in listing and "echo.service" in listing
    assert sm.systemctl("stop", "echo.socket", "echo.service").rc == 0
    assert not (sm.root / "echo.sock").exists() or _sub(sm, "echo.socket") == "dead"


def test_service_started_directly_gets_its_socket(sm: Manager) -> None:
    assert sm.systemctl("start", "direct.service").rc == 0
    assert _sub(sm, "direct.socket") == "running"
    assert _ask(sm.root / "direct.sock") == "1 direct.socket 0"
    sm.systemctl("stop", "direct.service", "direct.socket")


def test_accept_yes_spawns_an_instance_per_connection(sm: Manager) -> None:
    assert sm.systemctl("start", "acc.socket").rc == 0
    conns = []
    for _ in range(3):
        c = socket.create_connection(("127.0.0.1", 47124), timeout=10)
        conns.append(c)
        time.sleep(0.3)
    first = conns[0].recv(200).decode().split()
    port = conns[0].getsockname()[1]
    assert first == [f"0-127.0.0.1:47124-127.0.0.1:{port}", "127.0.0.1"]
    conns[0].sendall(b"ping\n")
    assert conns[0].recv(10) == b"ping\n"
    names = sm.systemctl("list-units", "--all", "--plain", "--no-legend", "acc@*").out
    assert f"acc@0-127.0.0.1:47124-127.0.0.1:{port}.service" in names
    # MaxConnections=2: the third was dropped.
    assert conns[2].recv(10) == b""
    status = sm.systemctl("status", "acc.socket").out
    assert "Accepted: 2; Connected: 2;" in status
    assert conns[1].recv(200).decode().startswith("1-127.0.0.1:47124-")
    for c in conns:
        c.close()  # the instances read EOF and end cleanly
    wait_for(lambda: "Connected: 0;" in sm.systemctl("status", "acc.socket").out, "connections closed")
    assert sm.systemctl("show", "-p", "NRefused", "--value", "acc.socket").out.strip() == "1"
    wait_for(lambda: not sm.systemctl("list-units", "--all", "--plain", "--no-legend", "acc@*").out.strip(),
             "instances collected")
    sm.systemctl("stop", "acc.socket")


def test_trigger_storm_stops_the_socket(sm: Manager) -> None:
    assert sm.systemctl("start", "storm.socket").rc == 0
    # The service never takes the connection: each time it ends, the pending one triggers again.
    with socket.socket(socket.AF_UNIX) as c:
        c.connect(str(sm.root / "storm.sock"))
        wait_for(lambda: _sub(sm, "storm.socket") == "failed", "storm.socket failed", timeout=15)
    result = sm.systemctl("show", "-p", "Result", "--value", "storm.socket").out.strip()
    assert result in ("trigger-limit-hit", "service-start-limit-hit")
    sm.systemctl("reset-failed", "storm.socket", "storm.service")


def test_real_dbus_daemon_is_socket_activated(sm: Manager) -> None:
    assert sm.systemctl("start", "peerbus.socket").rc == 0
    r = subprocess.run(["busctl", f"--address=unix:path={sm.root}/peerbus", "list", "--no-pager"],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 0 and "org.freedesktop.DBus" in r.stdout, r.stderr
    assert _sub(sm, "peerbus.service") == "running" and _sub(sm, "peerbus.socket") == "running"
    assert sm.systemctl("stop", "peerbus.socket", "peerbus.service").rc == 0
