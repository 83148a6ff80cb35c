"""The notify socket across a core that dies while it applies a message: the message, and for
FDSTORE=1 its fds, are still there for the next core (a real socket, a real dying process)."""

from __future__ import annotations

import array
import os
import socket
from pathlib import Path

import pytest

from sysmasterd.core.notify import NotifySocket


def _send(path: Path, text: bytes, fds: list[int]) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.connect(str(path))
        s.sendmsg([text], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))] if fds else [])


def test_a_message_outlives_a_core_that_died_applying_it(tmp_path: Path) -> None:
    path = tmp_path / "notify"
    sock = NotifySocket(str(path))
    r, w = os.pipe()
    os.write(w, b"kept")
    _send(path, b"FDSTORE=1\nFDNAME=pipe", [r])
    _send(path, b"READY=1", [])
    os.close(r)
    child = os.fork()
    if child == 0:  # the first core: applies the message, dies before it is committed
        try:
            sock.receive(lambda pid, fields, fds: os._exit(0 if fields.get("FDNAME") == "pipe" and fds else 1))
        finally:
            os._exit(2)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    seen: list[tuple[int, dict[str, str], list[int]]] = []
    commits: list[int] = []
    sock.receive(lambda pid, fields, fds: seen.append((pid, fields, fds)), lambda: commits.append(len(seen)))
    assert [(pid, fields) for pid, fields, _ in seen] == [(os.getpid(), {"FDSTORE": "1", "FDNAME": "pipe"}),
                                                          (os.getpid(), {"READY": "1"})]
    assert commits == [1, 2]  # each committed before the next is read
    (fd,), no_fds = seen[0][2], seen[1][2]
    assert no_fds == []
    assert os.read(fd, 4) == b"kept"  # the pipe the service stored, handed over again
    os.close(fd)
    # taken for good: nothing is read twice, and no copy of the pipe's read end is left open
    # anywhere (the kernel dropped the one still queued with the message)
    sock.receive(lambda *a: seen.append(a))
    assert len(seen) == 2
    with pytest.raises(BrokenPipeError):
        os.write(w, b"x")
    os.close(w)
    sock.close()
