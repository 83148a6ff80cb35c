"""Service output to systemd-journald's stdout stream socket, as systemd's execute.c connects it.

When a journald listens on /run/systemd/journal/stdout, a service whose StandardOutput= or
StandardError= says journal, syslog or kmsg (with or without +console) gets a stream connected
there instead of a pipe to the manager: the manager writes journald's seven-line header
(identifier, unit id, priority, level prefix, forward to syslog, kmsg, console), the service
writes its lines, and journald records them with the fields `journalctl -u` and `systemctl status`
read. Without a journald the caller falls back to the manager's own log.
"""

from __future__ import annotations

import os
import socket
from typing import TYPE_CHECKING

from compat.model import StdOutput

if TYPE_CHECKING:
    from compat.model import ExecCommand
    from sysmasterd.core.unit import Unit

STDOUT_SOCKET = "/run/systemd/journal/stdout"
# What systemd asks of the socket buffer, so a burst of output does not block the service.
SNDBUF_SIZE = 8 * 1024 * 1024

_KMSG = (StdOutput.KMSG, StdOutput.KMSG_AND_CONSOLE)
_CONSOLE = (StdOutput.JOURNAL_AND_CONSOLE, StdOutput.KMSG_AND_CONSOLE, StdOutput.SYSLOG_AND_CONSOLE)


def header(identifier: str, unit_id: str, output: StdOutput, priority: int, level_prefix: bool) -> bytes:
    """The stream header journald reads before the first line of output (journald-stream.c)."""
    fields = [identifier, unit_id, str(priority), str(int(level_prefix)), "0", str(int(output in _KMSG)),
              str(int(output in _CONSOLE))]
    return ("\n".join(fields) + "\n").encode()


def open_stream(u: Unit, cmd: ExecCommand, output: StdOutput, path: str = STDOUT_SOCKET) -> int | None:
    """A stream to journald for the command's output, header written; None when no journald listens.
    The unit id is passed by a system manager only, as systemd's EXEC_PASS_LOG_UNIT."""
    assert u.config is not None
    ctx = u.config.exec
    identifier = ctx.syslog_identifier or os.path.basename(cmd.path)
    unit_id = u.id if u.manager.is_system else ""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        sock.connect(path)
        sock.shutdown(socket.SHUT_RD)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SNDBUF_SIZE)
        except OSError:
            pass
        sock.sendall(header(identifier, unit_id, output, ctx.syslog_priority, ctx.syslog_level_prefix))
    except OSError:
        sock.close()
        return None
    return sock.detach()


def stream_environment(fd: int) -> str:
    """JOURNAL_STREAM=: the stream's device and inode, so a service can tell it logs to journald."""
    st = os.fstat(fd)
    return f"{st.st_dev}:{st.st_ino}"
