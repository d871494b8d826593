"""Scored items in Kafka -> index, alert and deliver stages -> item and alert documents in
Elasticsearch and signed webhooks; the live stages fire exactly what the backtest fires."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import SecretStr

from alerting.deliver.stage import DeliverStage
from alerting.detect.rules import load_rules
from alerting.detect.stage import AlertStage
from alerting.index.stage import IndexStage
from alerting.testing import WebhookReceiver
from alerting.tools.backtest import backtest
from finsent.config import Settings, WebhookSettings
from finsent.es import make_client
from finsent.kafka import ensure_topics, make_producer
from finsent.schemas import Alert, Prediction, ScoredItem, SentimentPrediction, decode, encode
from tests.integration.conftest import isolate, read_topic
from tests.wait import wait_until

T0 = datetime(2026, 3, 2, tzinfo=UTC)
SECRET = "integration-secret"


def scored(n: int, at: datetime, ticker: str, negative: bool) -> ScoredItem:
    return ScoredItem(
        id=f"item-{n}", source="wire", kind="news", title=f"{ticker} headline {n}",
        url=f"https://n/{n}", published_at=at, fetched_at=at, story_id=f"s{n}", tickers=[ticker],
        sentiment=SentimentPrediction(label="negative" if negative else "neutral",
                                      scores={"negative": 0.9 if negative else 0.1, "neutral": 0.1,
                                              "positive": 0.0}),
        topic=Prediction(label="Earnings", scores={"Earnings": 1.0}), model="m@1", classified_at=at,
    )  # fmt: skip


def recording() -> list[ScoredItem]:
    """24 h of quiet traffic for ACME and three control tickers, one ACME burst, 3 h after."""
    items: list[ScoredItem] = []
    tickers = ("ACME", "CTLA", "CTLB", "CTLC")
    for window in range(96 + 12):
        for t, ticker in enumerate(tickers):
            for k in range(2 + (window + t) % 2):
                at = T0 + timedelta(minutes=15 * window + 4 * k + t)
                items.append(scored(len(items), at, ticker, negative=k < 1 + (window + t) % 2))
        if window == 96:  # the burst: 16 negative ACME stories in one window
            burst = T0 + timedelta(minutes=15 * window + 1)
            items += [scored(len(items) + k, burst + timedelta(seconds=30 * k), "ACME", True)
                      for k in range(16)]  # fmt: skip
    return items


def produce(settings: Settings, items: list[ScoredItem]) -> None:
    producer = make_producer(settings.kafka)
    for item in items:
        producer.send(settings.kafka.topics.scored, key=item.id.encode(), value=encode(item))
    producer.flush(60)
    producer.close()


def topic_alerts(settings: Settings) -> list[Alert]:
    return [decode(Alert, v) for v in read_topic(settings, settings.kafka.topics.alerts)]


def until(condition: Callable[[], bool], step: Callable[[], object], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        step()
        if condition():
            return True
    return False


def test_scored_items_to_item_docs_alert_docs_and_signed_webhooks(
    settings: Settings, unique: str
) -> None:
    items = recording()
    with WebhookReceiver(secret=SECRET, fail_first=1) as receiver:
        hook = WebhookSettings(name="risk", url=receiver.url, secret=SecretStr(SECRET))
        config = isolate(settings, unique, wall_clock=False, window_s=900, lateness_s=120,
                         webhooks=[hook], backoff_initial_s=0.1, backoff_max_s=0.5,
                         checkpoint_interval_s=0.5)  # fmt: skip
        ensure_topics(config.kafka)
        expected = list(
            backtest(items, load_rules(), 900, 120, kibana_url=config.alerting.kibana_url)
        )
        live_expected = [a for a in expected if a.window_end <= items[-1].published_at]
        produce(config, items)
        stages: list[Any] = [IndexStage(config), AlertStage(config), DeliverStage(config)]
        for stage in stages:
            stage.setup()
        stop = threading.Event()
        deliverer = stages[2]
        assert isinstance(deliverer, DeliverStage) and deliverer.dispatcher is not None
        deliverer.dispatcher.start(stop)
        es = make_client(config.elasticsearch)

        def alert_docs() -> int:
            if not es.indices.exists(index=f"{unique}-alerts"):
                return 0
            es.indices.refresh(index=f"{unique}-alerts")
            return int(es.count(index=f"{unique}-alerts")["count"])

        def step() -> None:
            for stage in stages:
                stage.run_once()

        try:
            done = until(lambda: alert_docs() >= len(live_expected)
                         and len(receiver.delivered) >= len(live_expected), step, 120)  # fmt: skip
            assert deliverer.outbox is not None
            outbox = deliverer.outbox
            wait_until(lambda: outbox.counts().get("delivered", 0) >= len(live_expected), 30,
                       "every delivery recorded in the outbox")  # fmt: skip
            deliverer.dispatcher.sync()
        finally:
            stop.set()
            deliverer.dispatcher.join(5)
            for stage in stages:
                stage.close()
        es.indices.refresh(index=f"{unique}-items")
        item_count = es.count(index=f"{unique}-items")["count"]
        print(f"\nitems {len(items)} -> item docs {item_count}; backtest alerts "
              f"{[(a.key, a.status) for a in live_expected]}; alert docs {alert_docs()}; "
              f"webhook requests {[r.status for r in receiver.requests]}")  # fmt: skip
        assert done, "alerts and deliveries did not arrive in time"
        assert item_count == len(items)
        assert ("ticker:ACME", "firing") in {(a.key, a.status) for a in live_expected}
        assert not any(a.key.startswith("ticker:CTL") for a in live_expected)
        docs = es.search(index=f"{unique}-alerts", size=100)["hits"]["hits"]
        assert sorted(d["_id"] for d in docs) == sorted(a.id for a in live_expected), \
            "the live stages fire exactly the backtest's alerts"  # fmt: skip
        delivered_ids = [r.headers["idempotency-key"] for r in receiver.delivered]
        assert sorted(delivered_ids) == sorted(a.id for a in live_expected), "one per event"
        assert all(r.verified for r in receiver.requests)
        for doc in docs:
            outcomes = doc["_source"].get("deliveries") or []
            assert [(o["endpoint"], o["status"]) for o in outcomes] == [("risk", "delivered")]


def test_two_alert_workers_fire_the_same_alerts_as_one_and_survive_a_restart(
    settings: Settings, unique: str
) -> None:
    items = recording()
    config = isolate(settings, unique, wall_clock=False, window_s=900, lateness_s=120,
                     checkpoint_interval_s=0.3)  # fmt: skip
    ensure_topics(config.kafka)
    expected = {a.id for a in backtest(items, load_rules(), 900, 120,
                                       kibana_url=config.alerting.kibana_url)
                if a.window_end <= items[-1].published_at}  # fmt: skip
    half = len(items) // 2
    produce(config, items[:half])
    workers = [AlertStage(config), AlertStage(config)]
    for worker in workers:
        worker.setup()
    shared = until(lambda: all(w.worker.detectors for w in workers),  # both joined
                   lambda: [w.run_once() for w in workers], 60)  # fmt: skip
    until(lambda: False, lambda: [w.run_once() for w in workers], 3)
    owned = [sorted(w.worker.detectors) for w in workers]
    workers[0].close()  # one leaves mid-stream; a new one takes its place
    workers[0] = AlertStage(config)
    workers[0].setup()
    produce(config, items[half:])

    def seen() -> set[str]:
        return {a.id for a in topic_alerts(config)}

    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and len(seen()) < len(expected):
        until(lambda: False, lambda: [w.run_once() for w in workers], 3)
    for worker in workers:
        worker.close()
    fired = topic_alerts(config)
    print(f"\npartitions per worker before the restart {owned}; alerts expected {len(expected)}, "
          f"events on the topic {len(fired)}, distinct {len(seen())}")  # fmt: skip
    assert shared and all(owned), "both workers owned partitions"
    assert {a.id for a in fired} == expected
