"""The control socket's credential checks, at the moment udevadm's messages can arrive."""

import asyncio
import socket
import struct
from pathlib import Path

from sysmasterd.devmaster.framework.control import ControlServer
from sysmasterd.devmaster.framework.control_wire import WIRE_SIZE, ControlMessage, ControlType, pack, unpack

_UCRED = struct.Struct("iII")


def _sender_uid(conn: socket.socket) -> int | None:
    data, anc, _, _ = conn.recvmsg(WIRE_SIZE + 64, socket.CMSG_SPACE(_UCRED.size))
    assert unpack(data).type == ControlType.PING
    for level, kind, payload in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            return int(_UCRED.unpack_from(payload)[1])
    return None


def test_message_sent_right_after_accept_carries_credentials(tmp_path: Path) -> None:
    """udevadm's client socket has no SO_PASSCRED: if its PING lands after the server's accept()
    but before the server enables SO_PASSCRED on the connection, the kernel attaches no
    credentials and the sender reads as uid 65534. The listening socket must pass them on."""
    loop = asyncio.new_event_loop()
    server = ControlServer(str(tmp_path / "control"), lambda msg: None)
    server.listen(loop)
    client = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        client.connect(server.path)
        assert server._sock is not None
        conn, _ = server._sock.accept()  # the server's accept handler, up to ...
        with conn:
            client.send(pack(ControlMessage(ControlType.PING)))
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)  # ... here
            assert _sender_uid(conn) == 0
    finally:
        client.close()
        server.close(loop)
        loop.close()
