"""A listening socket survives core deaths under sysmaster-init: init holds its fd, the next core
adopts it, and a connection made while no core ran is queued in it and served afterwards."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

from recovery_harness import namespace, wait_until

# Serves one connection (with what socket activation handed it), then exits: the socket listens again.
SERVER = ("import os, socket; s = socket.socket(fileno=3); c, _ = s.accept(); "
          "c.sendall(' '.join((os.environ['LISTEN_FDS'], os.environ['LISTEN_FDNAMES'], "
          "str(os.environ['LISTEN_PID'] == str(os.getpid())))).encode()); c.close()")
UNITS = {
    "boot.target": "[Unit]\nDefaultDependencies=no\nWants=srv.socket\n",
    "srv.socket": "[Unit]\nDefaultDependencies=no\n[Socket]\nListenStream=@RUN@/srv.sock\nFileDescriptorName=srv\n",
    "srv.service": f"[Unit]\nDefaultDependencies=no\n[Service]\nExecStart={sys.executable} -c \"{SERVER}\"\n",
}


def _ask(path: Path) -> bytes:
    with socket.socket(socket.AF_UNIX) as c:
        c.settimeout(20)
        c.connect(str(path))
        return c.recv(100)


def test_listening_socket_is_kept_across_core_kills() -> None:
    with namespace(UNITS) as ns:
        sock = ns.run / "srv.sock"

        def listening() -> bool:
            return ns.prop("srv.socket", "Unit", "SubState") == "listening"

        wait_until(listening, 15, "srv.socket listening")
        assert _ask(sock) == b"1 srv True"
        wait_until(listening, 15, "listening again")
        inode = sock.stat().st_ino

        old = ns.kill_core()
        # No core runs now: the connection waits in the backlog of the socket init holds.
        with socket.socket(socket.AF_UNIX) as c:
            c.settimeout(30)
            c.connect(str(sock))
            ns.wait_ready(old)
            assert c.recv(100) == b"1 srv True"
        assert sock.stat().st_ino == inode  # the same socket, not a new one bound in its place
        wait_until(listening, 15, "listening after the core came back")
        for _ in range(2):
            ns.wait_ready(ns.kill_core())
            wait_until(listening, 15, "listening after another core death")
            assert _ask(sock) == b"1 srv True"
