"""Durable outbox of webhook deliveries (SQLite): one row per (alert event, endpoint).

An alert event is enqueued before its Kafka offset is committed, and a row is never
enqueued twice (primary key), so a restart neither loses nor repeats a delivery. Rows carry
their retry schedule, when they were queued (the retry budget counts from there), the
attempts made, the last HTTP status, and whether Elasticsearch has been told yet
(``synced``). Statuses: ``pending``, ``delivered``, ``dead`` (gave up; ``requeue`` makes it
pending again) and ``suppressed`` (not sent: the incident was acknowledged or the key
muted). More than one process may open the file (``finsent alerts redeliver`` beside a
running deliver stage): writers wait for each other (``busy_timeout``).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    alert_id TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    body BLOB NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at REAL NOT NULL,
    last_status INTEGER,
    last_error TEXT,
    synced INTEGER NOT NULL DEFAULT 1,
    updated_at REAL NOT NULL,
    queued_at REAL,
    PRIMARY KEY (alert_id, endpoint)
);
CREATE INDEX IF NOT EXISTS due ON deliveries (endpoint, status, next_at);
"""

SELECT = (
    "SELECT alert_id, endpoint, body, status, attempts, next_at, last_status, last_error,"
    " COALESCE(queued_at, updated_at) FROM deliveries"
)
"""The ``Delivery`` columns; queries append constant clauses with ``?`` placeholders only."""


@dataclass
class Delivery:
    """One pending or finished delivery."""

    alert_id: str
    endpoint: str
    body: bytes
    status: str  # pending | delivered | dead | suppressed
    attempts: int
    next_at: float
    last_status: int | None
    last_error: str | None
    queued_at: float


class Outbox:
    """Thread-safe SQLite outbox (WAL, synchronous=FULL: a committed row survives a crash)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=10000")
        self._db.executescript(SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(deliveries)")}
        if "queued_at" not in columns:  # an outbox written by an earlier version
            self._db.execute("ALTER TABLE deliveries ADD COLUMN queued_at REAL")
        self._lock = threading.Lock()

    def enqueue(self, alert_id: str, endpoint: str, body: bytes) -> bool:
        """Add a delivery; False when this event was already queued for this endpoint."""
        with self._lock:
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO deliveries (alert_id, endpoint, body, next_at, updated_at,"
                " queued_at) VALUES (?, ?, ?, ?, ?, ?)",
                (alert_id, endpoint, body, time.time(), time.time(), time.time()),
            )
            return cursor.rowcount == 1

    def due(self, endpoint: str, now: float, limit: int = 50) -> list[Delivery]:
        """Pending deliveries of an endpoint whose time has come, oldest first."""
        with self._lock:
            rows = self._db.execute(
                SELECT + " WHERE endpoint = ? AND status = 'pending'"
                " AND next_at <= ? ORDER BY next_at LIMIT ?",
                (endpoint, now, limit),
            ).fetchall()
        return [Delivery(*row) for row in rows]

    def next_due(self, endpoint: str) -> float | None:
        """When the endpoint's next pending delivery is due (epoch s), if any."""
        with self._lock:
            row = self._db.execute(
                "SELECT MIN(next_at) FROM deliveries WHERE endpoint = ? AND status = 'pending'",
                (endpoint,),
            ).fetchone()
        return None if row[0] is None else float(row[0])

    def record(self, delivery: Delivery) -> None:
        """Store an attempt's outcome (status, attempts, schedule); marks it unsynced."""
        with self._lock:
            self._db.execute(
                "UPDATE deliveries SET status = ?, attempts = ?, next_at = ?, last_status = ?,"
                " last_error = ?, synced = 0, updated_at = ? WHERE alert_id = ? AND endpoint = ?",
                (delivery.status, delivery.attempts, delivery.next_at, delivery.last_status,
                 delivery.last_error, time.time(), delivery.alert_id, delivery.endpoint),
            )  # fmt: skip

    def unsynced(self, limit: int = 100) -> list[Delivery]:
        """Outcomes Elasticsearch has not recorded yet."""
        with self._lock:
            rows = self._db.execute(
                SELECT + " WHERE synced = 0 LIMIT ?",
                (limit,),
            ).fetchall()
        return [Delivery(*row) for row in rows]

    def mark_synced(self, alert_id: str, endpoint: str) -> None:
        """Elasticsearch has this outcome."""
        with self._lock:
            self._db.execute(
                "UPDATE deliveries SET synced = 1 WHERE alert_id = ? AND endpoint = ?",
                (alert_id, endpoint),
            )

    def find(
        self,
        status: str | None = None,
        alert_ids: Sequence[str] = (),
        endpoint: str | None = None,
        since: float | None = None,
    ) -> list[Delivery]:
        """Deliveries by status, event ids, endpoint and queue time, oldest first."""
        clauses, args = self._where(status, alert_ids, endpoint, since)
        with self._lock:
            rows = self._db.execute(
                SELECT + clauses + " ORDER BY queued_at, alert_id", args
            ).fetchall()
        return [Delivery(*row) for row in rows]

    def requeue(
        self, alert_ids: Sequence[str] = (), endpoint: str | None = None,
        since: float | None = None,
    ) -> list[Delivery]:  # fmt: skip
        """Make dead deliveries pending again, due now, with a fresh retry budget.

        Returns the rows requeued (as they were); a running sender thread picks them up
        within a second. Delivered and pending rows are left alone.
        """
        clauses, args = self._where("dead", alert_ids, endpoint, since)
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                rows = self._db.execute(SELECT + clauses, args)
                found = [Delivery(*row) for row in rows.fetchall()]
                self._db.executemany(
                    "UPDATE deliveries SET status = 'pending', attempts = 0, next_at = ?,"
                    " queued_at = ?, last_error = NULL, synced = 0, updated_at = ?"
                    " WHERE alert_id = ? AND endpoint = ? AND status = 'dead'",
                    [(now, now, now, d.alert_id, d.endpoint) for d in found],
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return found

    @staticmethod
    def _where(
        status: str | None, alert_ids: Sequence[str], endpoint: str | None, since: float | None
    ) -> tuple[str, list[object]]:
        clauses: list[str] = []
        args: list[object] = []
        if status is not None:
            clauses.append("status = ?")
            args.append(status)
        if alert_ids:
            clauses.append(f"alert_id IN ({', '.join('?' * len(alert_ids))})")
            args += list(alert_ids)
        if endpoint is not None:
            clauses.append("endpoint = ?")
            args.append(endpoint)
        if since is not None:
            clauses.append("COALESCE(queued_at, updated_at) >= ?")
            args.append(since)
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), args

    def counts(self) -> dict[str, int]:
        """Deliveries by status."""
        with self._lock:
            rows = self._db.execute(
                "SELECT status, COUNT(*) FROM deliveries GROUP BY status"
            ).fetchall()
        return {status: count for status, count in rows}

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()
