"""Ingest state that must survive restarts: seen item ids (bounded), cursors, HTTP validators.

One SQLite file (WAL), shared by the poll threads under a lock. An id is recorded as seen
only after Kafka acknowledged the item, so a crash can cause a duplicate (absorbed by the id
downstream), never a loss.
"""

from __future__ import annotations

import secrets
import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS seen (id TEXT PRIMARY KEY, seen_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS seen_by_age ON seen (seen_at);
CREATE TABLE IF NOT EXISTS kv (
    scope TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (scope, key)
);
"""


class StateStore:
    """Seen ids (oldest forgotten beyond ``max_seen``) and per-source key/values."""

    def __init__(self, path: Path, max_seen: int = 1_000_000) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_seen = max_seen
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._count = int(self._db.execute("SELECT COUNT(*) FROM seen").fetchone()[0])

    def unseen(self, ids: Iterable[str]) -> set[str]:
        """The ids not recorded yet."""
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return set()
        with self._lock:
            known: set[str] = set()
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(f"SELECT id FROM seen WHERE id IN ({marks})", chunk)  # noqa: S608
                known.update(row[0] for row in rows)
        return set(wanted) - known

    def mark_seen(self, ids: Iterable[str]) -> None:
        """Record ids (after their items were acknowledged); prune the oldest past the bound."""
        now = time.time()
        rows = [(i, now) for i in ids]
        if not rows:
            return
        with self._lock:
            before = self._db.total_changes
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR IGNORE INTO seen (id, seen_at) VALUES (?, ?)", rows)
            self._count += self._db.total_changes - before
            excess = self._count - self.max_seen
            if excess > 0:
                self._db.execute(
                    "DELETE FROM seen WHERE id IN "
                    "(SELECT id FROM seen ORDER BY seen_at, rowid LIMIT ?)",
                    (excess,),
                )
                self._count -= excess
            self._db.execute("COMMIT")

    def seen_count(self) -> int:
        """How many ids are remembered."""
        return self._count

    def get(self, scope: str, key: str) -> str | None:
        """A stored value (cursor, ETag...) or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT value FROM kv WHERE scope = ? AND key = ?", (scope, key)
            ).fetchone()
        return None if row is None else str(row[0])

    def put(self, scope: str, values: dict[str, str | None]) -> None:
        """Store (or with None, delete) several values of one scope atomically."""
        with self._lock:
            self._db.execute("BEGIN")
            for key, value in values.items():
                if value is None:
                    self._db.execute("DELETE FROM kv WHERE scope = ? AND key = ?", (scope, key))
                else:
                    self._db.execute(
                        "INSERT OR REPLACE INTO kv (scope, key, value) VALUES (?, ?, ?)",
                        (scope, key, value),
                    )
            self._db.execute("COMMIT")

    def secret(self, name: str) -> bytes:
        """A random key generated once and kept (e.g. the author pseudonymisation key)."""
        value = self.get("_secrets", name)
        if value is None:
            value = secrets.token_hex(32)
            self.put("_secrets", {name: value})
        return bytes.fromhex(value)

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()
