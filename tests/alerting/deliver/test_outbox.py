"""The SQLite outbox: one row per (event, endpoint), due order, outcomes, restarts."""

from __future__ import annotations

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
