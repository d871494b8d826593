"""Webhook dispatch from the outbox: one sender thread per endpoint.

A slow or failing endpoint only delays its own thread. Each attempt's outcome goes to the
outbox first (durable), then to the alert document in Elasticsearch; outcomes Elasticsearch
missed (it was down) are re-sent by ``sync``. After ``max_attempts`` a delivery is dead:
recorded as such and dead-lettered to Kafka with its last status.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping

from alerting.deliver.notifiers.base import Notifier
from alerting.deliver.outbox import Delivery, Outbox
from alerting.deliver.store import AlertStore
from finsent import telemetry
from finsent.backoff import backoff_s
from finsent.config import AlertingSettings
from finsent.logs import get_logger
from finsent.schemas import Alert, decode

DeadLetterFn = Callable[[Delivery], None]


class Dispatcher:
    """Sender threads over the outbox."""

    def __init__(
        self,
        settings: AlertingSettings,
        outbox: Outbox,
        store: AlertStore | None,
        notifiers: Mapping[str, Notifier],
        on_dead: DeadLetterFn | None = None,
    ) -> None:
        self.settings = settings
        self.outbox = outbox
        self.store = store
        self.notifiers = notifiers
        self.on_dead = on_dead
        self.log = get_logger("deliver")
        self.wake = {name: threading.Event() for name in notifiers}
        self.threads: list[threading.Thread] = []

    def start(self, stop: threading.Event) -> None:
        """One daemon thread per endpoint."""
        for name in self.notifiers:
            thread = threading.Thread(
                target=self._loop, args=(name, stop), name=f"webhook-{name}", daemon=True
            )
            thread.start()
            self.threads.append(thread)

    def notify(self) -> None:
        """New deliveries were enqueued."""
        for event in self.wake.values():
            event.set()

    def _loop(self, name: str, stop: threading.Event) -> None:
        while not stop.is_set():
            sent = self.run_due(name)
            if sent:
                continue
            next_at = self.outbox.next_due(name)
            wait = 1.0 if next_at is None else min(1.0, max(0.0, next_at - time.time()))
            self.wake[name].wait(wait)
            self.wake[name].clear()

    def run_due(self, name: str, now: float | None = None) -> int:
        """Attempt the endpoint's due deliveries once; returns how many were attempted."""
        due = self.outbox.due(name, time.time() if now is None else now)
        for delivery in due:
            self._attempt(self.notifiers[name], delivery)
        self.sync()
        return len(due)

    def _attempt(self, notifier: Notifier, delivery: Delivery) -> None:
        alert = decode(Alert, delivery.body)  # the outbox holds the event; notifiers render it
        outcome = notifier.send(alert)
        delivery.attempts += 1
        delivery.last_status, delivery.last_error = outcome.status, outcome.error
        if outcome.delivered:
            delivery.status = "delivered"
        elif outcome.retryable and delivery.attempts < self.settings.max_attempts:
            delivery.next_at = time.time() + backoff_s(
                delivery.attempts, self.settings.backoff_initial_s, self.settings.backoff_max_s
            )
        else:
            delivery.status = "dead"
        self.outbox.record(delivery)
        self.log.info(
            "webhook attempt", endpoint=delivery.endpoint, alert=delivery.alert_id,
            outcome=delivery.status, attempts=delivery.attempts, http_status=outcome.status,
            error=outcome.error,
        )  # fmt: skip
        label = delivery.status if delivery.status in ("delivered", "dead") else "retry"
        telemetry.WEBHOOK_DELIVERIES.labels(delivery.endpoint, label).inc()
        if delivery.status == "dead" and self.on_dead is not None:
            self.on_dead(delivery)

    def sync(self) -> None:
        """Tell Elasticsearch the outcomes it has not recorded yet (best effort)."""
        if self.store is None:
            return
        for delivery in self.outbox.unsynced():
            try:
                self.store.record_delivery(
                    delivery.alert_id, delivery.endpoint, delivery.status, delivery.attempts,
                    delivery.last_status, delivery.last_error,
                )  # fmt: skip
            except Exception as exc:  # noqa: BLE001  # ES down: the outbox keeps it for later
                self.log.warning("delivery outcome not recorded yet", error=type(exc).__name__)
                return
            self.outbox.mark_synced(delivery.alert_id, delivery.endpoint)

    def join(self, timeout_s: float) -> None:
        """Wait for the sender threads after ``stop`` was set."""
        for event in self.wake.values():
            event.set()
        deadline = time.monotonic() + timeout_s
        for thread in self.threads:
            thread.join(max(0.0, deadline - time.monotonic()))
