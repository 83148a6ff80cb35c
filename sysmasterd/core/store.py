"""The runtime state store: what must survive a SIGKILL of the core, committed as it changes.

sqlite3 in WAL mode under the runtime dir. Lives on tmpfs (/run), so commits need no fsync to
survive a process crash: once written, the page cache holds it for the next core.

A store that cannot be written (the runtime dir full or read-only) must not take the manager
down: every write goes through a table of pending changes (the latest value per key, so its size
is bounded by the number of units, jobs and meta keys), committed at once while the disk takes
them. When a commit fails the store says so loudly once, keeps the pending changes in memory,
retries with a growing interval, and commits them all when space comes back. Until then a core
killed would restart from the last state that made it to disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sqlite3
from collections.abc import Iterator
from typing import Any

log = logging.getLogger("sysmasterd")

RETRY_FIRST = 1.0
RETRY_MAX = 10.0

_UPSERT = {
    "unit": "INSERT OR REPLACE INTO unit (id, data) VALUES (?, ?)",
    "job": "INSERT OR REPLACE INTO job (id, data) VALUES (?, ?)",
    "meta": "INSERT OR REPLACE INTO meta (k, v) VALUES (?, ?)",
}
_DELETE = {
    "unit": "DELETE FROM unit WHERE id = ?",
    "job": "DELETE FROM job WHERE id = ?",
    "meta": "DELETE FROM meta WHERE k = ?",
}
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS unit (id TEXT PRIMARY KEY, data TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS job (id INTEGER PRIMARY KEY, data TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL)",
)

Key = tuple[str, "str | int"]


class StateStore:
    def __init__(self, path: str) -> None:
        self.path = path
        self.db: sqlite3.Connection | None = None
        # (table, key) -> JSON text, or None for a deletion; not yet on disk.
        self._pending: dict[Key, str | None] = {}
        self._depth = 0
        self.degraded = False
        self._retry_in = RETRY_FIRST
        self._retry: asyncio.TimerHandle | None = None
        try:
            self._open()
        except (sqlite3.Error, OSError) as e:
            self._degrade(e)

    def _open(self) -> None:
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=OFF")
            for statement in _SCHEMA:
                db.execute(statement)
        except BaseException:
            db.close()
            raise
        self.db = db

    # --- writes --------------------------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
        self._sync()

    def _put(self, table: str, key: str | int, value: Any) -> None:
        self._pending[(table, key)] = None if value is None else json.dumps(value)
        if not self._depth:
            self._sync()

    def save_unit(self, unit_id: str, data: dict[str, Any]) -> None:
        self._put("unit", unit_id, data)

    def delete_unit(self, unit_id: str) -> None:
        self._put("unit", unit_id, None)

    def save_job(self, job_id: int, data: dict[str, Any]) -> None:
        self._put("job", job_id, data)

    def delete_job(self, job_id: int) -> None:
        self._put("job", job_id, None)

    def set_meta(self, key: str, value: Any) -> None:
        # A stored JSON null is a value, not a deletion.
        self._pending[("meta", key)] = json.dumps(value)
        if not self._depth:
            self._sync()

    def _sync(self) -> None:
        """Commit what is pending, unless a retry is already scheduled (then it waits for it)."""
        if not self._pending or self._retry is not None:
            return
        try:
            self._commit()
        except (sqlite3.Error, OSError) as e:
            self._degrade(e)

    def _commit(self) -> None:
        if self.db is None:
            self._open()
        db = self.db
        assert db is not None
        pending = self._pending
        single = len(pending) == 1
        if not single:
            db.execute("BEGIN")
        try:
            for (table, key), value in pending.items():
                if value is None:
                    db.execute(_DELETE[table], (key,))
                else:
                    db.execute(_UPSERT[table], (key, value))
            if not single:
                db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
            raise
        self._pending = {}
        if self.degraded:
            self.degraded = False
            self._retry_in = RETRY_FIRST
            log.warning("State store %s is writable again: %d pending changes committed.", self.path, len(pending))

    def _degrade(self, exc: BaseException) -> None:
        if not self.degraded:
            self.degraded = True
            log.error("State store %s cannot be written (%s): runtime state is kept in memory only and a "
                      "restarted core would not see the latest of it; retrying.", self.path, exc)
        else:
            log.debug("State store %s still cannot be written: %s", self.path, exc)
        self._schedule_retry()

    def _schedule_retry(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop yet: the next write outside one tries again
        delay, self._retry_in = self._retry_in, min(self._retry_in * 2, RETRY_MAX)
        self._retry = loop.call_later(delay, self._retry_now)

    def _retry_now(self) -> None:
        self._retry = None
        if self._pending:
            self._sync()
        else:
            self.degraded = False

    # --- reads (the pending changes override what is on disk) ----------------------------------

    def _rows(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        if self.db is None:
            return []
        try:
            return list(self.db.execute(sql, args))
        except sqlite3.Error as e:
            log.error("State store %s cannot be read: %s", self.path, e)
            return []

    def _overlay(self, table: str, rows: dict[Any, str]) -> dict[Any, str]:
        for (t, key), value in self._pending.items():
            if t != table:
                continue
            if value is None:
                rows.pop(key, None)
            else:
                rows[key] = value
        return rows

    def get_meta(self, key: str, default: Any = None) -> Any:
        if ("meta", key) in self._pending:
            raw = self._pending[("meta", key)]
            return json.loads(raw) if raw is not None else default
        rows = self._rows("SELECT v FROM meta WHERE k = ?", key)
        return json.loads(rows[0][0]) if rows else default

    def meta_with_prefix(self, prefix: str) -> dict[str, Any]:
        """Every meta entry whose key starts with ``prefix``, by the rest of the key."""
        rows = dict(self._rows("SELECT k, v FROM meta WHERE substr(k, 1, ?) = ?", len(prefix), prefix))
        merged = self._overlay("meta", rows)
        return {k[len(prefix):]: json.loads(v) for k, v in merged.items() if k.startswith(prefix)}

    def units(self) -> dict[str, dict[str, Any]]:
        rows = self._overlay("unit", dict(self._rows("SELECT id, data FROM unit")))
        return {uid: json.loads(d) for uid, d in rows.items()}

    def jobs(self) -> list[dict[str, Any]]:
        rows = self._overlay("job", dict(self._rows("SELECT id, data FROM job")))
        return [json.loads(rows[k]) for k in sorted(rows)]

    def clear(self) -> None:
        self._pending = {}
        if self.db is None:
            return
        try:
            self.db.execute("DELETE FROM unit")
            self.db.execute("DELETE FROM job")
            self.db.execute("DELETE FROM meta")
        except sqlite3.Error as e:
            log.error("State store %s cannot be cleared: %s", self.path, e)

    def close(self) -> None:
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        if self._pending:
            with contextlib.suppress(sqlite3.Error, OSError):
                self._commit()
        if self.db is not None:
            self.db.close()
            self.db = None
