"""The manager's own messages to systemd-journald's native socket, as systemd's log.c sends them.

Each record becomes one datagram of `FIELD=value` lines on /run/systemd/journal/socket: PRIORITY=,
SYSLOG_FACILITY=, TID=, CODE_*=, SYSLOG_IDENTIFIER=systemd and MESSAGE=, plus UNIT=/INVOCATION_ID=
(USER_UNIT=/USER_INVOCATION_ID= in a user manager) for a message about a unit, and the fields the
caller attached (MESSAGE_ID=, JOB_ID=, ...). `journalctl -u` finds a system manager's messages by
`_PID=1 UNIT=`: the core is the voice of PID 1 here (sysmaster-init is its PID 1 half), so a root
system manager claims PID 1 in the datagram's credentials, which the kernel allows it. A user
manager's are found by `USER_UNIT=` and its uid.

The journal is used only while journald runs, decided as systemd's manager_journal_is_running():
a system manager waits until its journald socket and service units are up (sending into a socket
it holds itself would only queue up, or activate journald from inside a log call); a user manager
assumes it. Otherwise, and whenever a datagram cannot be sent, the record goes to the manager's
own log handler as before.
"""

from __future__ import annotations

import logging
import os
import socket
import struct
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

from sysmasterd.core.states import ActiveState

if TYPE_CHECKING:
    from sysmasterd.core.manager import Manager

NATIVE_SOCKET = "/run/systemd/journal/socket"
IDENTIFIER = "systemd"
LOG_DAEMON = 3
JOURNALD_SOCKET = "systemd-journald.socket"
JOURNALD_SERVICE = "systemd-journald.service"
# Well-known message ids (systemd's sd-messages.h), for the job results journalctl -u shows.
UNIT_STARTING = "7d4958e842da4a758f6c1cdc7b36dcc5"
UNIT_STARTED = "39f53479d3a045ac8e11786248231fbf"
UNIT_FAILED = "be02cf6855d2428ba40df7e9d022f03d"
UNIT_STOPPING = "de5b426a63be47a7b6ac3eaac82e2f6f"
UNIT_STOPPED = "9d1aaa27d60140bd96365438aad20286"
UNIT_RELOADING = "d34d037fff1847e6ae669a370e694725"
UNIT_RELOADED = "7b05ebc668384222baa8881179cfda54"
UNIT_SUCCESS = "7ad2d189f7e94e70a38c781354912448"
UNIT_FAILURE_RESULT = "d9b373ed55a64feb8242e02dbe79a49c"

# Python levels to syslog priorities (the manager logs "notice" as INFO).
_PRIORITY = {logging.CRITICAL: 2, logging.ERROR: 3, logging.WARNING: 4, logging.INFO: 6, logging.DEBUG: 7}
_UNIT_SUFFIXES = (".service", ".socket", ".target", ".device", ".mount", ".automount", ".swap", ".timer",
                  ".path", ".slice", ".scope")


class UnitLog(NamedTuple):
    """What the log needs of the unit a message is about."""

    id: str
    invocation: str  # hex, "" before the first start
    level_max: int  # LogLevelMax=: messages about the unit above it are dropped; -1: none


def unit_fields(unit: str, fields: dict[str, str] | None = None) -> dict[str, object]:
    """`extra=` for a log call about `unit` that does not start with the unit's name."""
    return {"journal_unit": unit, "journal_fields": fields or {}}


def encode(fields: list[tuple[str, str]]) -> bytes:
    """The native protocol: `NAME=value\\n`, or for a value holding a newline the name, a newline,
    its length as 64-bit little endian and the bytes (journald-native.c)."""
    out = bytearray()
    for name, value in fields:
        data = value.encode(errors="replace")
        if b"\n" in data:
            out += name.encode() + b"\n" + struct.pack("<Q", len(data)) + data + b"\n"
        else:
            out += name.encode() + b"=" + data + b"\n"
    return bytes(out)


class JournalHandler(logging.Handler):
    """Records to journald while `running()` says it runs, else to `fallback`."""

    def __init__(self, fallback: logging.Handler, running: Callable[[], bool],
                 unit_of: Callable[[str], UnitLog | None], user: bool, claim_pid1: bool,
                 path: str = NATIVE_SOCKET) -> None:
        super().__init__()
        self.fallback = fallback
        self.running = running
        self.unit_of = unit_of
        self.unit_field, self.invocation_field = ("USER_UNIT", "USER_INVOCATION_ID") if user else \
            ("UNIT", "INVOCATION_ID")
        self.claim_pid1 = claim_pid1
        self.path = path
        self.sock: socket.socket | None = None

    def emit(self, record: logging.LogRecord) -> None:
        priority = _PRIORITY.get(record.levelno, 6)
        try:
            unit = self._unit_named(record)
            if unit is not None and 0 <= unit.level_max < priority:
                return  # as systemd's log_unit_*(): not logged anywhere
            sent = self.running() and self._send(record, priority, unit)
        except Exception:  # a log call must never raise into the manager
            sent = False
        if not sent:
            self.fallback.handle(record)

    def fields(self, record: logging.LogRecord, priority: int, unit: UnitLog | None) -> list[tuple[str, str]]:
        out = [("PRIORITY", str(priority)), ("SYSLOG_FACILITY", str(LOG_DAEMON)),
               ("TID", str(threading.get_native_id())), ("CODE_FILE", record.pathname),
               ("CODE_LINE", str(record.lineno)), ("CODE_FUNC", record.funcName)]
        if unit is not None:
            out.append((self.unit_field, unit.id))
            if unit.invocation:
                out.append((self.invocation_field, unit.invocation))
        out.append(("SYSLOG_IDENTIFIER", IDENTIFIER))
        out.append(("MESSAGE", record.getMessage()))
        out += list(getattr(record, "journal_fields", {}).items())
        return out

    def _unit_named(self, record: logging.LogRecord) -> UnitLog | None:
        """The unit a record is about: given with unit_fields(), or the "%s: ..." prefix that names
        a unit, as systemd's log_unit_*() both prefix the message and add the field."""
        name = getattr(record, "journal_unit", None)
        if name is None and isinstance(record.msg, str) and record.msg.startswith("%s: ") and record.args \
                and isinstance(record.args, tuple) and isinstance(record.args[0], str) \
                and record.args[0].endswith(_UNIT_SUFFIXES):
            name = record.args[0]
        return self.unit_of(name) if isinstance(name, str) else None

    def _send(self, record: logging.LogRecord, priority: int, unit: UnitLog | None) -> bool:
        data = encode(self.fields(record, priority, unit))
        for _ in range(2):  # a journald restarted since: connect again once
            if self.sock is None:
                self.sock = self._connect()
                if self.sock is None:
                    return False
            try:
                self._sendmsg(self.sock, data)
                return True
            except OSError:
                self.sock.close()
                self.sock = None
        return False

    def _connect(self) -> socket.socket | None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK)
        try:
            sock.connect(self.path)
        except OSError:
            sock.close()
            return None
        return sock

    def _sendmsg(self, sock: socket.socket, data: bytes) -> None:
        if self.claim_pid1:
            creds = struct.pack("iII", 1, os.getuid(), os.getgid())
            try:
                sock.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_CREDENTIALS, creds)])
                return
            except PermissionError:  # not privileged after all: speak as ourselves from now on
                self.claim_pid1 = False
            except ProcessLookupError:
                self.claim_pid1 = False
        sock.send(data)

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        super().close()


def journald_running(m: Manager) -> bool:
    """systemd's manager_journal_is_running()."""
    if m.settings.test_mode:
        return False
    if not m.is_system:
        return True
    sock, service = m.get_unit(JOURNALD_SOCKET), m.get_unit(JOURNALD_SERVICE)
    return (sock is not None and sock.sub_state == "running" and service is not None
            and service.active_state in (ActiveState.ACTIVE, ActiveState.RELOADING)
            and service.sub_state in ("running", "reload"))


def install(m: Manager, logger: logging.Logger) -> None:
    """Route the manager's logger through the journal, its present handlers as the fallback."""
    def unit_of(name: str) -> UnitLog | None:
        u = m.get_unit(name)
        if u is None:
            return None
        level_max = u.config.exec.log_level_max if u.config is not None else -1
        return UnitLog(u.id, u.invocation_id.hex(), level_max)

    for fallback in list(logger.handlers):
        if isinstance(fallback, JournalHandler):
            continue
        logger.removeHandler(fallback)
        logger.addHandler(JournalHandler(fallback, lambda: journald_running(m), unit_of, user=not m.is_system,
                                         claim_pid1=m.is_system and os.geteuid() == 0))
