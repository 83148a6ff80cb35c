"""What journald reads about a unit from files rather than asking the manager (it cannot ask over
D-Bus: the bus logs to journald itself): `units/invocation:<unit>` in the scope's runtime
directory, a symlink to the invocation ID (journald adds _SYSTEMD_INVOCATION_ID= from it), and for
the system manager `log-level-max:`, `log-extra-fields:`, `log-rate-limit-interval:` and
`log-rate-limit-burst:` for LogLevelMax=, LogExtraFields= and LogRateLimit*=.

Written, as systemd 252 does, just before a unit's processes are spawned and removed when the
unit goes inactive or is collected. Only the scope's own manager writes them (they live in
systemd's shared runtime directory): a second manager beside it leaves them to that one.
"""

from __future__ import annotations

import contextlib
import os
import struct
import tempfile
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from compat.model import ExecContext
    from sysmasterd.core.unit import Unit

_LOG_FILES = ("log-level-max", "log-extra-fields", "log-rate-limit-interval", "log-rate-limit-burst")


def _symlink(target: str, path: str) -> None:
    """Replace `path` by a symlink to `target` in one step (readers never see it missing)."""
    tmp = f"{path}.{os.getpid()}.tmp"
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)
    os.symlink(target, tmp)
    os.replace(tmp, path)


def _write(data: bytes, path: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".", dir=os.path.dirname(path))
    try:
        os.write(fd, data)
        os.fchmod(fd, 0o644)
        os.replace(tmp, path)
    except OSError:
        os.unlink(tmp)
        raise
    finally:
        os.close(fd)


def extra_fields_blob(fields: list[str]) -> bytes:
    """journald's format for LogExtraFields=: each "FIELD=value" after its length, 64-bit little endian."""
    return b"".join(struct.pack("<Q", len(raw)) + raw for raw in (f.encode() for f in fields))


def log_files(ctx: ExecContext) -> dict[str, str | bytes]:
    """The log settings journald needs, by file name prefix: a str is a symlink target, bytes a
    file's contents; settings left at their defaults are not exported."""
    out: dict[str, str | bytes] = {}
    if ctx.log_level_max >= 0:
        out["log-level-max"] = str(ctx.log_level_max)
    if ctx.log_extra_fields:
        out["log-extra-fields"] = extra_fields_blob(ctx.log_extra_fields)
    if ctx.log_rate_limit_interval_usec:
        out["log-rate-limit-interval"] = str(ctx.log_rate_limit_interval_usec)
    if ctx.log_rate_limit_burst:
        out["log-rate-limit-burst"] = str(ctx.log_rate_limit_burst)
    return out


class UnitStateExport:
    def __init__(self, directory: str, log_settings: bool) -> None:
        self.directory = directory
        self.log_settings = log_settings  # the system manager's only, as in systemd
        self._exported: dict[str, bytes] = {}  # unit -> the invocation its files were written for

    def _path(self, kind: str, unit: str) -> str:
        return os.path.join(self.directory, f"{kind}:{unit}")

    def export(self, u: Unit) -> None:
        """Before the unit's processes start. Failures cost journald's extra fields, nothing else."""
        if not u.invocation_id or self._exported.get(u.id) == u.invocation_id:
            return
        try:
            os.makedirs(self.directory, mode=0o755, exist_ok=True)
            _symlink(u.invocation_id.hex(), self._path("invocation", u.id))
            ctx = u.config.exec if u.config is not None and self.log_settings else None
            for kind, value in (log_files(ctx) if ctx is not None else {}).items():
                if isinstance(value, str):
                    _symlink(value, self._path(kind, u.id))
                else:
                    _write(value, self._path(kind, u.id))
        except OSError as e:
            u.manager.log.debug("%s: failed to export state for journald to %s: %s", u.id, self.directory, e)
            return
        self._exported[u.id] = u.invocation_id

    def unlink(self, u: Unit) -> None:
        """Once the unit is inactive or gone. Also files a previous core wrote (it kept no record)."""
        self._exported.pop(u.id, None)
        for kind in ("invocation", *(_LOG_FILES if self.log_settings else ())):
            with contextlib.suppress(OSError):
                os.unlink(self._path(kind, u.id))
