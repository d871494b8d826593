"""The deliver stage: alert events -> Elasticsearch documents and webhook deliveries.

Per poll: each event is indexed (create, ``_id`` = event id) and queued in the outbox for
every endpoint, then the offsets are committed. A replayed event finds its document and its
outbox rows already there and is not delivered twice; an endpoint another instance already
served (recorded on the document) is skipped. Sender threads work the outbox.
"""

from __future__ import annotations

import threading
from typing import Any

from alerting.dispatcher import Dispatcher
from alerting.notifiers.webhook import WebhookNotifier
from alerting.outbox import Delivery, Outbox
from alerting.sinks.alerts import AlertStore
from finsent import telemetry
from finsent.config import Settings
from finsent.es import install_templates, make_client
from finsent.kafka import AckedProducer, dead_letter, ensure_topics, make_consumer, make_producer
from finsent.logs import get_logger
from finsent.schemas import Alert, DeadLetter, SchemaError, decode, encode

STAGE = "deliver"
FINAL = {"delivered", "dead"}


class DeliverStage:
    """One member of the delivery consumer group."""

    name = STAGE

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.log = get_logger(STAGE)
        self.consumer: Any = None
        self.producer: Any = None
        self.store: AlertStore | None = None
        self.outbox: Outbox | None = None
        self.dispatcher: Dispatcher | None = None
        self.indexed = 0

    def setup(self) -> None:
        """Templates, topics, outbox, group membership."""
        client = make_client(self.settings.elasticsearch)
        install_templates(client, self.settings.elasticsearch.index_prefix)
        self.store = AlertStore(client, self.settings.elasticsearch.index_prefix)
        topics = self.settings.kafka.topics
        ensure_topics(self.settings.kafka, [topics.alerts, topics.deadletter])
        self.producer = AckedProducer(make_producer(self.settings.kafka))
        self.consumer = make_consumer(
            self.settings.kafka, f"{self.settings.alerting.group_id}-deliver", topics.alerts,
            max_poll_records=200,
        )  # fmt: skip
        alerting = self.settings.alerting
        self.outbox = Outbox(alerting.outbox_path)
        notifiers = {w.name: WebhookNotifier(w) for w in alerting.webhooks}
        self.dispatcher = Dispatcher(alerting, self.outbox, self.store, notifiers, self._dead)

    def _dead(self, delivery: Delivery) -> None:
        letter = DeadLetter.of(
            STAGE, f"webhook {delivery.endpoint}: gave up after {delivery.attempts} attempts, "
            f"last {delivery.last_error or delivery.last_status}",
            self.settings.kafka.topics.alerts, -1, -1, delivery.alert_id.encode(), delivery.body,
        )  # fmt: skip
        self.producer.send(self.settings.kafka.topics.deadletter, value=encode(letter))
        self.producer.acknowledge(self.settings.kafka.request_timeout_ms / 1000)

    def run_once(self, timeout_ms: int = 500) -> int:
        """Index and queue one poll's events, then commit; returns the events handled."""
        assert self.store is not None and self.outbox is not None and self.dispatcher
        batches = self.consumer.poll(timeout_ms=timeout_ms)
        records = [r for part in batches.values() for r in part]
        handled = 0
        for record in records:
            try:
                alert = decode(Alert, record.value)
            except SchemaError as exc:
                dead_letter(self.producer, self.settings.kafka.topics.deadletter, STAGE, record,
                            exc.reason)  # fmt: skip
                continue
            done: dict[str, Any] = {}
            if not self.store.create(alert):  # seen before: skip endpoints already served
                done = {n: d for n, d in self.store.deliveries(alert.id).items()
                        if d.get("status") in FINAL}  # fmt: skip
            else:
                self.indexed += 1
                telemetry.PROCESSED.labels(STAGE).inc()
            body = encode(alert)
            for name in self.dispatcher.notifiers:
                if name not in done:
                    self.outbox.enqueue(alert.id, name, body)
            handled += 1
        if records:
            self.producer.acknowledge(self.settings.kafka.request_timeout_ms / 1000)
            self.consumer.commit()
            self.dispatcher.notify()
        return handled

    def run(self, stop: threading.Event) -> None:
        """Consume and dispatch until stopped."""
        assert self.dispatcher is not None
        self.dispatcher.start(stop)
        try:
            while not stop.is_set():
                self.run_once()
        finally:
            self.dispatcher.join(timeout_s=self.settings.daemon.shutdown_timeout_s / 2)

    def close(self) -> None:
        """Leave the group, close the outbox and the HTTP clients."""
        if self.consumer is not None:
            self.consumer.close()
        if self.producer is not None:
            self.producer.close()
        if self.dispatcher is not None:
            for notifier in self.dispatcher.notifiers.values():
                notifier.close()
        if self.outbox is not None:
            self.outbox.close()
