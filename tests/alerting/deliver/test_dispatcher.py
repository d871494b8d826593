"""The dispatcher's retry budget, on a stepped clock: an outage shorter than it loses nothing."""

from __future__ import annotations

import time
from pathlib import Path

from alerting.deliver.dispatcher import Dispatcher
from alerting.deliver.notifiers.base import Outcome
from alerting.deliver.outbox import Delivery, Outbox
from finsent.config import AlertingSettings
from finsent.schemas import Alert, encode
from tests.alerting.deliver.notifiers.test_webhook import alert


class DownUntil:
    """An endpoint that answers 503 until a (simulated) time, then 200."""

    def __init__(self, clock: list[float], back_at: float) -> None:
        self.clock = clock
        self.back_at = back_at
        self.attempts: list[float] = []

    def send(self, event: Alert) -> Outcome:
        self.attempts.append(self.clock[0])
        if self.clock[0] < self.back_at:
            return Outcome(False, True, 503, "HTTP 503")
        return Outcome(True, False, 200, None)

    def close(self) -> None:
        """Nothing to release."""


def outage(tmp_path: Path, settings: AlertingSettings, down_s: float) -> tuple[str, DownUntil]:
    """Run one delivery through an outage of ``down_s`` on a stepped clock; its final status."""
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    outbox.enqueue("a1-firing", "risk", encode(alert(1)))
    start = time.time()
    clock = [start]
    endpoint = DownUntil(clock, start + down_s)
    dead: list[Delivery] = []
    dispatcher = Dispatcher(settings, outbox, None, {"risk": endpoint}, on_dead=dead.append)
    while (due := outbox.next_due("risk")) is not None and clock[0] < start + 86400:
        clock[0] = max(clock[0], due)
        dispatcher.run_due("risk", now=clock[0])
    (delivery,) = outbox.find()
    assert (delivery.status == "dead") == bool(dead), "dead deliveries are dead-lettered"
    outbox.close()
    return delivery.status, endpoint


def test_the_default_budget_rides_out_a_ten_minute_outage(tmp_path: Path) -> None:
    settings = AlertingSettings()
    assert settings.retry_budget_s >= 15 * 60
    status, endpoint = outage(tmp_path, settings, down_s=10 * 60)
    span = endpoint.attempts[-1] - endpoint.attempts[0]
    print(f"\n10 min outage: {status} after {len(endpoint.attempts)} attempts over {span:.0f} s")
    assert status == "delivered"
    assert span >= 10 * 60


def test_past_the_budget_the_delivery_is_dead_with_a_last_attempt_at_its_end(
    tmp_path: Path,
) -> None:
    settings = AlertingSettings(retry_budget_s=1200, backoff_initial_s=1, backoff_max_s=300)
    status, endpoint = outage(tmp_path, settings, down_s=3600)
    span = endpoint.attempts[-1] - endpoint.attempts[0]
    assert status == "dead"
    assert abs(span - 1200) < 1, f"the last attempt falls on the budget's end, not {span:.0f} s"


def test_max_attempts_still_caps_when_set(tmp_path: Path) -> None:
    settings = AlertingSettings(max_attempts=3, backoff_initial_s=1)
    status, endpoint = outage(tmp_path, settings, down_s=3600)
    assert (status, len(endpoint.attempts)) == ("dead", 3)
