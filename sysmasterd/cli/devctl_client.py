"""The client side of devmaster's control socket (udevadm control/settle/trigger --settle).

Here rather than beside the server in sysmasterd.devmaster.framework.control, which imports
asyncio for the server: a control message must not cost an event loop's import.
"""

from __future__ import annotations

import select
import time

from sysmasterd.devmaster.framework.control_wire import WIRE_SIZE, ControlMessage, ControlType, pack

CONTROL_PATH = "/run/udev/control"


class ControlError(OSError):
    pass


def send(messages: list[ControlMessage], timeout: float, path: str = CONTROL_PATH) -> None:
    """Send messages and wait for the daemon to acknowledge by closing (udevadm control)."""
    import _socket  # socket.py's enums cost more to import than the exchange takes

    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_SEQPACKET | _socket.SOCK_CLOEXEC)
    try:
        try:
            sock.connect(path)
        except OSError as e:
            raise ControlError(e.errno, f"Failed to connect to udev daemon: {e.strerror}") from None
        for msg in [*messages, ControlMessage(ControlType.END_MESSAGES)]:
            sock.send(pack(msg))
        deadline = time.monotonic() + timeout if timeout > 0 else None
        while True:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise ControlError(110, "Timed out waiting for udev daemon to acknowledge")
            ready, _, _ = select.select([sock], [], [], left)
            if ready:
                try:
                    if not sock.recv(WIRE_SIZE):
                        return
                except ConnectionResetError:
                    return
    finally:
        sock.close()

