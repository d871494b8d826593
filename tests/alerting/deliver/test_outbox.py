"""The SQLite outbox: one row per (event, endpoint), due order, outcomes, restarts."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import replace
from pathlib import Path

from alerting.deliver.outbox import Outbox


def test_an_event_is_queued_once_per_endpoint_and_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    outbox = Outbox(path)
    assert outbox.enqueue("a1", "ops", b"{}")
    assert outbox.enqueue("a1", "slack", b"{}")
    assert not outbox.enqueue("a1", "ops", b"{}"), "a replayed event is not queued again"
    outbox.close()
    reopened = Outbox(path)
    assert not reopened.enqueue("a1", "ops", b"{}")
    assert [d.alert_id for d in reopened.due("ops", time.time() + 1)] == ["a1"]
    assert reopened.counts() == {"pending": 2}
    reopened.close()


def test_due_respects_the_retry_schedule_and_final_states(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.db")
    for alert in ("a1", "a2", "a3"):
        outbox.enqueue(alert, "ops", alert.encode())
    now = time.time() + 1
    first, second, third = outbox.due("ops", now)
    outbox.record(replace(first, status="delivered", attempts=1, last_status=200))
    outbox.record(replace(second, attempts=1, next_at=now + 60, last_status=503))
    outbox.record(replace(third, status="dead", attempts=8, last_error="timeout"))
    assert outbox.due("ops", now) == [], "nothing due: one delivered, one dead, one later"
    assert [d.alert_id for d in outbox.due("ops", now + 61)] == ["a2"]
    assert outbox.next_due("ops") == now + 60
    assert outbox.counts() == {"delivered": 1, "pending": 1, "dead": 1}
    assert {d.alert_id for d in outbox.unsynced()} == {"a1", "a2", "a3"}
    outbox.mark_synced("a1", "ops")
    assert {d.alert_id for d in outbox.unsynced()} == {"a2", "a3"}
    outbox.close()


def test_requeue_makes_dead_deliveries_pending_with_a_fresh_budget(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.db")
    for alert in ("a1", "a2", "a3"):
        outbox.enqueue(alert, "ops", alert.encode())
    outbox.enqueue("a1", "slack", b"a1")
    first, second, third = outbox.due("ops", time.time() + 1)
    outbox.record(replace(first, status="dead", attempts=12, last_error="timeout"))
    outbox.record(replace(second, status="delivered", attempts=1, last_status=200))
    outbox.record(replace(third, status="dead", attempts=12, last_error="HTTP 503"))
    before = time.time()
    requeued = outbox.requeue(endpoint="ops")
    assert sorted(d.alert_id for d in requeued) == ["a1", "a3"], "only dead rows"
    pending = {(d.alert_id, d.endpoint): d for d in outbox.find(status="pending")}
    assert set(pending) == {("a1", "ops"), ("a3", "ops"), ("a1", "slack")}
    assert all(d.attempts == 0 and d.queued_at >= before for k, d in pending.items()
               if k[1] == "ops")  # fmt: skip
    assert outbox.requeue(endpoint="ops") == [], "nothing dead is left"
    assert outbox.find(status="delivered")[0].alert_id == "a2"
    outbox.close()


def test_an_outbox_of_an_earlier_version_opens_and_counts_its_budget(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE deliveries (alert_id TEXT NOT NULL, endpoint TEXT NOT NULL, body BLOB NOT"
        " NULL, status TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0,"
        " next_at REAL NOT NULL, last_status INTEGER, last_error TEXT, synced INTEGER NOT NULL"
        " DEFAULT 1, updated_at REAL NOT NULL, PRIMARY KEY (alert_id, endpoint));"
        "INSERT INTO deliveries (alert_id, endpoint, body, next_at, updated_at)"
        " VALUES ('a1', 'ops', x'7b7d', 5.0, 7.0);"
    )
    db.commit()
    db.close()
    outbox = Outbox(path)
    (row,) = outbox.due("ops", 10.0)
    assert (row.alert_id, row.queued_at) == ("a1", 7.0), "queued_at falls back to updated_at"
    assert outbox.enqueue("a2", "ops", b"{}")
    assert outbox.find(alert_ids=["a2"])[0].queued_at > 7.0
    outbox.close()
