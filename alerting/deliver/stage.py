"""The deliver stage: alert events -> Elasticsearch documents and webhook deliveries.

Per poll: each event is indexed (create, ``_id`` = event id) and queued in the outbox for
every endpoint, then the offsets are committed. A replayed event finds its document and its
outbox rows already there and is not delivered twice; an endpoint another instance already
served (recorded on the document) is skipped. Sender threads work the outbox.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

from alerting.deliver.dispatcher import Dispatcher
from alerting.deliver.notifiers.formats import notifier_for
from alerting.deliver.outbox import Delivery, Outbox
from alerting.deliver.store import AlertStore
from finsent import telemetry
from finsent.config import Settings
from finsent.es import install_templates, make_client
from finsent.kafka import AckedProducer, ensure_topics, make_producer
from finsent.schemas import Alert, DeadLetter, encode
from finsent.stage.handler import Handler, Received
from finsent.stage.loop import LoopOptions, StageLoop

STAGE = "deliver"
FINAL = {"delivered", "dead", "suppressed"}


class DeliverHandler(Handler[Alert]):
    """Each event into ``finsent-alerts`` and the outbox; the senders wake after the commit."""

    schema = Alert

    def __init__(self, store: AlertStore, outbox: Outbox, dispatcher: Dispatcher) -> None:
        self.store = store
        self.outbox = outbox
        self.dispatcher = dispatcher
        self.handled = 0

    def handle(self, batch: Sequence[Received[Alert]]) -> None:
        """Index each event (create, ``_id`` = event id) and queue its deliveries."""
        for received in batch:
            alert = received.value
            done: dict[str, Any] = {}
            if not self.store.create(alert):  # seen before: skip endpoints already served
                done = {n: d for n, d in self.store.deliveries(alert.id).items()
                        if d.get("status") in FINAL}  # fmt: skip
            else:
                telemetry.PROCESSED.labels(STAGE).inc()
            body = encode(alert)
            for name in self.dispatcher.notifiers:
                if name not in done:
                    self.outbox.enqueue(alert.id, name, body)
            self.handled += 1

    def committed(self) -> None:
        """Wake the sender threads: the queued deliveries are durable and committed."""
        self.dispatcher.notify()


class DeliverStage:
    """One member of the delivery consumer group."""

    name = STAGE

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.handler: DeliverHandler | None = None
        self.loop: StageLoop[Alert] | None = None
        self.outbox: Outbox | None = None
        self.dispatcher: Dispatcher | None = None
        self.dead_producer: AckedProducer | None = None

    def setup(self) -> None:
        """Templates, topics, outbox, group membership."""
        client = make_client(self.settings.elasticsearch)
        install_templates(client, self.settings.elasticsearch.index_prefix)
        store = AlertStore(client, self.settings.elasticsearch.index_prefix)
        kafka = self.settings.kafka
        ensure_topics(kafka, [kafka.topics.alerts, kafka.topics.deadletter])
        alerting = self.settings.alerting
        self.outbox = Outbox(alerting.outbox_path)
        notifiers = {w.name: notifier_for(w) for w in alerting.webhooks}
        # the sender threads dead-letter on a producer of their own (not the loop's)
        self.dead_producer = AckedProducer(make_producer(kafka))
        self.dispatcher = Dispatcher(alerting, self.outbox, store, notifiers, self._dead)
        self.handler = DeliverHandler(store, self.outbox, self.dispatcher)
        self.loop = StageLoop.connect(
            kafka, f"{alerting.group_id}-deliver", self.handler,
            LoopOptions.of(kafka, STAGE, [kafka.topics.alerts], max_records=200),
        )  # fmt: skip

    def _dead(self, delivery: Delivery) -> None:
        assert self.dead_producer is not None
        letter = DeadLetter.of(
            STAGE, f"webhook {delivery.endpoint}: gave up after {delivery.attempts} attempts "
            f"in {time.time() - delivery.queued_at:.0f} s, last "
            f"{delivery.last_error or delivery.last_status}",
            self.settings.kafka.topics.alerts, -1, -1, delivery.alert_id.encode(), delivery.body,
        )  # fmt: skip
        self.dead_producer.send(self.settings.kafka.topics.deadletter, value=encode(letter))
        self.dead_producer.acknowledge(self.settings.kafka.request_timeout_ms / 1000)

    def run_once(self) -> int:
        """One round: index and queue the events, commit, wake the senders."""
        assert self.loop is not None and self.handler is not None
        self.handler.handled = 0
        self.loop.run_once()
        return self.handler.handled

    def run(self, stop: threading.Event) -> None:
        """Consume and dispatch until stopped."""
        assert self.dispatcher is not None and self.loop is not None
        self.dispatcher.start(stop)
        try:
            self.loop.run(stop)
        finally:
            self.dispatcher.join(timeout_s=self.settings.daemon.shutdown_timeout_s / 2)

    def close(self) -> None:
        """Leave the group, close the outbox and the HTTP clients."""
        try:
            if self.loop is not None:
                self.loop.close()
        finally:
            if self.dead_producer is not None:
                self.dead_producer.close()
            if self.dispatcher is not None:
                for notifier in self.dispatcher.notifiers.values():
                    notifier.close()
            if self.outbox is not None:
                self.outbox.close()
