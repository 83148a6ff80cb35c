"""The peers of the abuse tests, run inside the test's namespace: hostile callers (as a throwaway
uid) and the well-behaved client whose latency the tests watch. Blocking, pure-Python D-Bus
(sysmasterd.cli.dbuswire), so each is one small process the test starts and kills by PID.

    peers.py probe ADDRESS SECONDS          -> JSON list of GetUnit round-trip latencies
    peers.py names ADDRESS N REPEAT         -> ListUnitsByNames with N names, REPEAT times
    peers.py loadflood ADDRESS SECONDS      -> LoadUnit of fresh names, 64 calls in flight
    peers.py setprops ADDRESS N             -> SetUnitProperties with N entries
    peers.py noread ADDRESS SECONDS         -> Subscribe (on a bus), then never read
    peers.py reload-or-restart ADDRESS NAME -> ReloadOrRestartUnit of NAME
    peers.py hog PATH N SECONDS             -> N connections to a stream socket, held
    peers.py notifyflood PATH SECONDS       -> datagrams with 200 fds each to a notify socket
"""

from __future__ import annotations

import array
import json
import os
import socket
import struct
import sys
import time
from typing import Any

from sysmasterd.cli.dbuswire import ERROR, METHOD_CALL, METHOD_RETURN, CallFailed, Connection, Message, Variant

DEST = "org.freedesktop.systemd1"
PATH = "/org/freedesktop/systemd1"
MANAGER = "org.freedesktop.systemd1.Manager"


def connect(address: str) -> Connection:
    return Connection(address, bus="private" not in address, timeout=60)


def manager_call(member: str, signature: str = "", body: list[Any] | None = None) -> Message:
    return Message(METHOD_CALL, path=PATH, interface=MANAGER, member=member, destination=DEST,
                   signature=signature, body=body or [])


def outcome(conn: Connection, msg: Message) -> str:
    try:
        conn.call(msg)
    except CallFailed as e:
        return e.name
    return "ok"


def probe(address: str, seconds: float) -> None:
    conn = connect(address)
    signals: dict[str, int] = {}
    conn.on_signal = lambda msg: signals.__setitem__(msg.member, signals.get(msg.member, 0) + 1)
    latencies = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        t = time.monotonic()
        conn.call(manager_call("GetUnit", "s", ["basic.target"]))
        latencies.append(time.monotonic() - t)
        time.sleep(0.01)
    print(json.dumps(latencies))
    print(f"signals: {signals}", file=sys.stderr)


def skim(conn: Connection, data: bytes) -> str:
    """Send an encoded call and wait for its answer without decoding a successful reply: the
    abuser's own CPU would otherwise compete with the manager on a small machine."""
    conn.sock.sendall(data)
    buf = conn._buf
    while True:
        while len(buf) < 16:
            conn._fill()
        body_len, _serial, fields_len = struct.unpack_from("<III", buf, 4)
        total = 16 + fields_len + (-(16 + fields_len) % 8) + body_len
        while len(buf) < total:
            conn._fill()
        kind = buf[1]
        raw = bytes(buf[:total])
        del buf[:total]
        if kind == METHOD_RETURN:
            return "ok"
        if kind == ERROR:
            return Message.decode(raw).error_name


def names(address: str, n: int, repeat: int) -> None:
    conn = connect(address)
    for r in range(repeat):
        data = manager_call("ListUnitsByNames", "as", [[f"abuse-{r}-{i}.service" for i in range(n)]]).encode(r + 100)
        t = time.monotonic()
        result = skim(conn, data)
        print(result, round(time.monotonic() - t, 3), flush=True)


def loadflood(address: str, seconds: float) -> None:
    conn = connect(address)
    end, i, inflight = time.monotonic() + seconds, 0, 0
    while time.monotonic() < end:
        while inflight < 64:
            conn.send(manager_call("LoadUnit", "s", [f"flood-{i}.service"]))
            i, inflight = i + 1, inflight + 1
        msg = conn.receive()
        if msg.type != 4:
            inflight -= 1
    print(i, flush=True)


def setprops(address: str, n: int) -> None:
    conn = connect(address)
    props = [("Description", Variant("s", f"x{i}")) for i in range(n)]
    data = manager_call("SetUnitProperties", "sba(sv)", ["basic.target", True, props]).encode(7)
    t = time.monotonic()
    result = skim(conn, data)
    print(result, round(time.monotonic() - t, 3), flush=True)


def noread(address: str, seconds: float) -> None:
    conn = connect(address)
    if "private" not in address:
        conn.call(manager_call("Subscribe"))
    print("subscribed", flush=True)
    time.sleep(seconds)


def reload_or_restart(address: str, name: str) -> None:
    conn = connect(address)
    print(outcome(conn, manager_call("ReloadOrRestartUnit", "ss", [name, "replace"])), flush=True)


def hog(path: str, n: int, seconds: float) -> None:
    """Connect n times to a stream socket and hold the connections (each one an fd of the server)."""
    held = []
    for _ in range(n):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.connect(path)
        except BlockingIOError:
            pass
        except OSError:
            s.close()
            break
        held.append(s)
    print(len(held), flush=True)
    time.sleep(seconds)


def notifyflood(path: str, seconds: float) -> None:
    """Datagrams carrying 200 fds each to a notify socket, from a process in no unit."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.setblocking(False)
    null = os.open("/dev/null", os.O_RDONLY)
    fds = array.array("i", [null] * 200)
    sent, end = 0, time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            sock.sendmsg([b"STATUS=flood"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)], 0, path)
            sent += 1
            if sent % 1000 == 0:
                print(sent, flush=True)
        except BlockingIOError:
            time.sleep(0.001)
    print(sent, flush=True)


def main() -> None:
    mode, address, *rest = sys.argv[1:]
    if mode == "probe":
        probe(address, float(rest[0]))
    elif mode == "names":
        names(address, int(rest[0]), int(rest[1]))
    elif mode == "loadflood":
        loadflood(address, float(rest[0]))
    elif mode == "setprops":
        setprops(address, int(rest[0]))
    elif mode == "noread":
        noread(address, float(rest[0]))
    elif mode == "hog":
        hog(address, int(rest[0]), float(rest[1]))
    elif mode == "notifyflood":
        notifyflood(address, float(rest[0]))
    elif mode == "reload-or-restart":
        reload_or_restart(address, rest[0])
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
