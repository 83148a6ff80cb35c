"""Init's state, and how it crosses exec() when init upgrades itself.

The state is written as JSON to a memfd left open across exec (FD_CLOEXEC cleared on it, on
init's end of the core channel and on every stored fd); the new image gets
``--deserialize FD``, reads it, and sets FD_CLOEXEC on all of them again.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field

from sysmasterd.init.protocol import ChildExit

STATE_VERSION = 1
OutboxRef = tuple[str, ...]  # ("hello",) ("fds", name) ("exit", "seq") ("stop", kind) ("error", text)


@dataclass
class CoreProcess:
    pid: int
    fd: int  # init's end of the channel; -1 once core closed it
    started: float  # CLOCK_MONOTONIC, which exec does not reset
    last_seen: float | None = None
    connected: bool = False  # sent "connect": exit reports go to it from then on
    ready: bool = False
    killed: bool = False


@dataclass
class InitState:
    config_path: str | None
    core_args: list[str]  # from the command line, after "--"
    starts: int = 0
    failures: int = 0  # core deaths since the last "ready"
    emergency: bool = False
    next_start: float | None = 0.0  # when to start core (monotonic); None: not scheduled
    shell_pid: int | None = None
    core: CoreProcess | None = None
    store: dict[str, list[int]] = field(default_factory=dict)
    exits: dict[int, ChildExit] = field(default_factory=dict)  # unacknowledged, by seq
    next_seq: int = 1
    outbox: list[OutboxRef] = field(default_factory=list)

    def fds(self) -> list[int]:
        """Every fd the state refers to."""
        found = [fd for fds in self.store.values() for fd in fds]
        if self.core is not None and self.core.fd >= 0:
            found.append(self.core.fd)
        return found


def dump(state: InitState) -> bytes:
    body = asdict(state)
    body["version"] = STATE_VERSION
    body["exits"] = [asdict(e) for e in state.exits.values()]
    return json.dumps(body).encode()


def load(data: bytes) -> InitState:
    """Raises ValueError (or a subclass) on anything unexpected."""
    try:
        body = json.loads(data)
        if body.pop("version") != STATE_VERSION:
            raise ValueError("state version mismatch")
        core = body.pop("core")
        exits = [ChildExit(**e) for e in body.pop("exits")]
        state = InitState(**body)
        state.core = CoreProcess(**core) if core is not None else None
        state.exits = {e.seq: e for e in exits}
        state.outbox = [tuple(str(part) for part in ref) for ref in state.outbox]
        state.store = {str(k): [int(fd) for fd in v] for k, v in state.store.items()}
    except (KeyError, TypeError, AttributeError, json.JSONDecodeError) as e:
        raise ValueError(f"bad state: {e}") from None
    return state


def write_memfd(state: InitState) -> int:
    """A memfd holding the state, inheritable across exec."""
    fd = os.memfd_create("sysmaster-init-state", 0)
    data = dump(state)
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def read_fd(fd: int) -> InitState:
    """Load the state from ``fd`` and close it. pread: the offset is shared with other holders."""
    data = b""
    while chunk := os.pread(fd, 65536, len(data)):
        data += chunk
    os.close(fd)
    return load(data)
