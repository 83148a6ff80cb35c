"""daemon-reexec of a user manager (no sysmaster-init to keep fds): a listening socket is the same
socket after it (same inode, and a connection queued while no core ran is served), and a service's
fd store keeps what it held, as systemd keeps both across its re-exec."""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from bus_harness import SYSTEMCTL, Manager, make_manager, wait_for

SERVER = """import os, socket
s = socket.socket(fileno=3)
while True:
    c, _ = s.accept()
    c.sendall(b"served")
    c.close()
"""
# Stores a memfd on its first start; later starts report what came back in LISTEN_FDNAMES.
STORE = r"""import os, signal, socket, sys, array
n = int(os.environ.get("LISTEN_FDS", "0"))
names = os.environ.get("LISTEN_FDNAMES", "").split(":") if n else []
seen = []
for i, name in enumerate(names):
    os.lseek(3 + i, 0, 0)
    seen.append(name + "=" + os.read(3 + i, 100).decode())
with open(sys.argv[1], "a") as f:
    f.write(" ".join(seen) + "\n")
def notify(text, fds=()):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds).tobytes())] if fds else []
    s.sendmsg([text.encode()], anc, 0, os.environ["NOTIFY_SOCKET"])
if not seen:
    memo = os.memfd_create("memo")
    os.write(memo, b"kept")
    notify("FDSTORE=1\nFDNAME=memo", [memo])
notify("READY=1")
signal.pause()
"""


def units(tmp: Path) -> dict[str, str]:
    (tmp / "server.py").write_text(SERVER)
    (tmp / "store.py").write_text(STORE)
    return {
        "queue.socket": f"[Unit]\nDefaultDependencies=no\n[Socket]\nListenStream={tmp}/queue.sock\n",
        "queue.service": f"[Unit]\nDefaultDependencies=no\n[Service]\nExecStart={sys.executable} {tmp}/server.py\n",
        "store.service": "[Unit]\nDefaultDependencies=no\n[Service]\nType=notify\nFileDescriptorStoreMax=2\n"
                         f"ExecStart={sys.executable} {tmp}/store.py {tmp}/report\n",
    }


@pytest.fixture(scope="module")
def sm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Manager]:
    tmp = tmp_path_factory.mktemp("reexecfds")
    yield from make_manager(tmp, "user", units(tmp))


def _reexec(sm: Manager, during: object = None) -> None:
    """daemon-reexec; ``during`` (a callable) runs once the old image has logged it is going."""
    before = sm.log.count("Reexecuting.")
    proc = sm.ns.popen([SYSTEMCTL, "--user", "daemon-reexec"], sm.env, sm.root / "reexec.log")
    try:
        wait_for(lambda: sm.log.count("Reexecuting.") > before, "the old core going", 10)
        if callable(during):
            during()
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    wait_for(lambda: sm.log.count("connected to the bus") > before + 1, "the new core on the bus", 20)


def test_listening_socket_and_queued_connection_survive_reexec(sm: Manager) -> None:
    path = sm.root / "queue.sock"
    assert sm.systemctl("start", "queue.socket").rc == 0
    inode = os.stat(path).st_ino
    client = socket.socket(socket.AF_UNIX)
    client.settimeout(20)
    try:
        # Connected while the exec is under way: it waits in the backlog, which only the kept
        # socket still has.
        _reexec(sm, lambda: client.connect(str(path)))
        assert os.stat(path).st_ino == inode
        assert client.recv(100) == b"served"
    finally:
        client.close()
    assert sm.systemctl("is-active", "queue.service").out == "active\n"


def test_fd_store_survives_reexec(sm: Manager) -> None:
    report = sm.root / "report"
    assert sm.systemctl("start", "store.service").rc == 0

    def stored() -> str:
        return sm.systemctl("show", "-P", "NFileDescriptorStore", "store.service").out.strip()

    wait_for(lambda: stored() == "1", "the memfd stored")
    _reexec(sm)
    _reexec(sm)  # twice: what the first new image adopted goes on to the next
    assert stored() == "1"
    assert sm.systemctl("restart", "store.service").rc == 0
    wait_for(lambda: len(report.read_text().splitlines()) == 2, "the second start")
    assert report.read_text().splitlines() == ["", "memo=kept"]
