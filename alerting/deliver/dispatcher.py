"""Webhook dispatch from the outbox: one sender thread per endpoint.

A slow or failing endpoint only delays its own thread. Each attempt's outcome goes to the
outbox first (durable), then to the alert document in Elasticsearch; outcomes Elasticsearch
missed (it was down) are re-sent by ``sync``. Retries follow capped exponential backoff
until ``retry_budget_s`` after the delivery was queued (the last attempt falls on the
budget's end), or ``max_attempts`` when set; then the delivery is dead: recorded as such
and dead-lettered to Kafka with its last status (``finsent alerts redeliver`` queues it
again). Before each attempt the alert document is asked whether the incident was
acknowledged or the key muted: such a delivery is ``suppressed``, not sent. When
Elasticsearch cannot answer, the event is sent (an alert too many beats one lost).
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
        """Attempt the endpoint's due deliveries once; returns how many were attempted.

        ``now`` (epoch s, default the clock) is the time of these attempts: tests step it.
        """
        now = time.time() if now is None else now
        due = self.outbox.due(name, now)
        for delivery in due:
            self._attempt(self.notifiers[name], delivery, now)
        self.sync()
        return len(due)

    def _attempt(self, notifier: Notifier, delivery: Delivery, now: float) -> None:
        alert = decode(Alert, delivery.body)  # the outbox holds the event; notifiers render it
        reason = self._suppressed(alert)
        if reason is not None:
            delivery.status, delivery.last_error = "suppressed", reason
            self.outbox.record(delivery)
            self.log.info("webhook suppressed", endpoint=delivery.endpoint,
                          alert=delivery.alert_id, reason=reason)  # fmt: skip
            telemetry.WEBHOOK_DELIVERIES.labels(delivery.endpoint, "suppressed").inc()
            return
        outcome = notifier.send(alert)
        delivery.attempts += 1
        delivery.last_status, delivery.last_error = outcome.status, outcome.error
        deadline = delivery.queued_at + self.settings.retry_budget_s
        cap = self.settings.max_attempts
        if outcome.delivered:
            delivery.status = "delivered"
        elif outcome.retryable and now < deadline and (cap is None or delivery.attempts < cap):
            delay = backoff_s(
                delivery.attempts, self.settings.backoff_initial_s, self.settings.backoff_max_s
            )
            delivery.next_at = min(now + delay, deadline)
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

    def _suppressed(self, alert: Alert) -> str | None:
        """The acknowledgement or mute that holds this event back, if any."""
        if self.store is None:
            return None
        try:
            return self.store.suppression(alert)
        except Exception as exc:  # noqa: BLE001 - ES down or the index missing: send it
            self.log.warning("triage not checked, sending", alert=alert.id,
                             error=type(exc).__name__)  # fmt: skip
            return None

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
