"""The runtime state store: what must survive a SIGKILL of the core, committed as it changes.

sqlite3 in WAL mode under the runtime dir. Lives on tmpfs (/run), so commits need no fsync to
survive a process crash: once written, the page cache holds it for the next core.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Iterator
from typing import Any


class StateStore:
    def __init__(self, path: str) -> None:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self.path = path
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=OFF")
        self.db.execute("CREATE TABLE IF NOT EXISTS unit (id TEXT PRIMARY KEY, data TEXT NOT NULL)")
        self.db.execute("CREATE TABLE IF NOT EXISTS job (id INTEGER PRIMARY KEY, data TEXT NOT NULL)")
        self.db.execute("CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL)")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        self.db.execute("BEGIN")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def save_unit(self, unit_id: str, data: dict[str, Any]) -> None:
        self.db.execute("INSERT OR REPLACE INTO unit (id, data) VALUES (?, ?)", (unit_id, json.dumps(data)))

    def delete_unit(self, unit_id: str) -> None:
        self.db.execute("DELETE FROM unit WHERE id = ?", (unit_id,))

    def save_job(self, job_id: int, data: dict[str, Any]) -> None:
        self.db.execute("INSERT OR REPLACE INTO job (id, data) VALUES (?, ?)", (job_id, json.dumps(data)))

    def delete_job(self, job_id: int) -> None:
        self.db.execute("DELETE FROM job WHERE id = ?", (job_id,))

    def set_meta(self, key: str, value: Any) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta (k, v) VALUES (?, ?)", (key, json.dumps(value)))

    def get_meta(self, key: str, default: Any = None) -> Any:
        row = self.db.execute("SELECT v FROM meta WHERE k = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    def meta_with_prefix(self, prefix: str) -> dict[str, Any]:
        """Every meta entry whose key starts with ``prefix``, by the rest of the key."""
        rows = self.db.execute("SELECT k, v FROM meta WHERE substr(k, 1, ?) = ?", (len(prefix), prefix))
        return {k[len(prefix):]: json.loads(v) for k, v in rows}

    def units(self) -> dict[str, dict[str, Any]]:
        return {uid: json.loads(d) for uid, d in self.db.execute("SELECT id, data FROM unit")}

    def jobs(self) -> list[dict[str, Any]]:
        return [json.loads(d) for (d,) in self.db.execute("SELECT data FROM job ORDER BY id")]

    def clear(self) -> None:
        self.db.execute("DELETE FROM unit")
        self.db.execute("DELETE FROM job")
        self.db.execute("DELETE FROM meta")

    def close(self) -> None:
        self.db.close()
