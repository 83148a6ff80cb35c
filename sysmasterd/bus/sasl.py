"""The server side of D-Bus SASL: EXTERNAL only, with NEGOTIATE_UNIX_FD, as sd-bus clients expect.

Pure: feed it the client's lines, it returns the lines to answer and whether BEGIN was reached.
"""

from __future__ import annotations

import enum
import uuid


class Outcome(enum.Enum):
    CONTINUE = "continue"
    BEGIN = "begin"
    REJECT = "reject"  # close the connection


class ServerAuth:
    def __init__(self, peer_uid: int, allowed_uids: frozenset[int]) -> None:
        self._peer_uid = peer_uid
        self._allowed = allowed_uids
        self._guid = uuid.uuid4().hex
        self._authenticated = False
        self._waiting_data = False
        self.unix_fd = False
        self._errors = 0

    def _check(self, hex_uid: str) -> bytes:
        if hex_uid:
            try:
                claimed = int(bytes.fromhex(hex_uid).decode("ascii"))
            except ValueError:
                return b"REJECTED EXTERNAL\r\n"
            if claimed != self._peer_uid:
                return b"REJECTED EXTERNAL\r\n"
        if self._peer_uid not in self._allowed:
            return b"REJECTED EXTERNAL\r\n"
        self._authenticated = True
        return f"OK {self._guid}\r\n".encode()

    def feed(self, line: bytes) -> tuple[bytes, Outcome]:
        """One line without its CRLF."""
        try:
            words = line.decode("ascii").split()
        except UnicodeDecodeError:
            words = []
        cmd = words[0] if words else ""
        if cmd == "AUTH" and not self._authenticated:
            if len(words) < 2 or words[1] != "EXTERNAL":
                return b"REJECTED EXTERNAL\r\n", Outcome.CONTINUE
            if len(words) == 2:
                self._waiting_data = True
                return b"DATA\r\n", Outcome.CONTINUE
            return self._check(words[2]), Outcome.CONTINUE
        if cmd == "DATA" and self._waiting_data:
            self._waiting_data = False
            return self._check(words[1] if len(words) > 1 else ""), Outcome.CONTINUE
        if cmd == "CANCEL" and not self._authenticated:
            self._waiting_data = False
            return b"REJECTED EXTERNAL\r\n", Outcome.CONTINUE
        if cmd == "NEGOTIATE_UNIX_FD" and self._authenticated:
            self.unix_fd = True
            return b"AGREE_UNIX_FD\r\n", Outcome.CONTINUE
        if cmd == "BEGIN" and self._authenticated:
            return b"", Outcome.BEGIN
        self._errors += 1
        if self._errors > 8:
            return b"", Outcome.REJECT
        return b"ERROR\r\n", Outcome.CONTINUE
