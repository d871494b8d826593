"""raw topic -> ClassifyConsumer (tiny model) -> scored topic, on the real Kafka."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
import torch
from kafka.errors import KafkaError

from classifier.consumer import ClassifyConsumer
from classifier.engine import Engine, Scores
from classifier.entities import TickerTagger
from finsent.config import Settings
from finsent.kafka import ensure_topics, group_lag, make_admin, make_consumer, make_producer
from finsent.schemas import (
    WATERMARK_KEY,
    DeadLetter,
    RawItem,
    ScoredItem,
    decode,
    encode,
    make_item_id,
)
from tests.cli import FINSENT

T0 = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)


def topics_for(settings: Settings, unique: str) -> Settings:
    topics = settings.kafka.topics.model_copy(
        update={
            "raw": f"{unique}.raw",
            "scored": f"{unique}.scored",
            "deadletter": f"{unique}.dlq",
        }
    )
    kafka = settings.kafka.model_copy(update={"topics": topics})
    classifier = settings.classifier.model_copy(
        update={"group_id": f"{unique}-classify", "max_batch_items": 16}
    )
    isolated = settings.model_copy(update={"kafka": kafka, "classifier": classifier})
    ensure_topics(kafka, [topics.raw, topics.scored, topics.deadletter])
    return isolated


def raw_item(i: int) -> RawItem:
    url = f"https://news.example/{i}"
    return RawItem(
        id=make_item_id("wire", url),
        source="wire",
        kind="news",
        title=f"Apple shares move on day {i}",
        text="$AAPL traders react",
        url=url,
        published_at=T0,
        fetched_at=T0,
        symbols=["MSFT"],
    )


def produce_raw(
    settings: Settings, items: list[RawItem], extra: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    """Items keyed by id, then any raw (key, value) records, acknowledged."""
    producer = make_producer(settings.kafka)
    for item in items:
        producer.send(settings.kafka.topics.raw, key=item.id.encode(), value=encode(item))
    for key, value in extra:
        producer.send(settings.kafka.topics.raw, key=key, value=value)
    producer.flush(30)
    producer.close()


def read_all(settings: Settings, topic: str, expected: int, timeout_s: float = 60) -> list[bytes]:
    consumer = make_consumer(settings.kafka, None, topic)
    values: list[bytes] = []
    deadline = time.monotonic() + timeout_s
    while len(values) < expected and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=500).values():
            values += [r.value for r in records if r.key != WATERMARK_KEY]  # progress markers
    consumer.close()
    return values


def lag(settings: Settings) -> int:
    """Records of the raw topic that the classifier group has not committed."""
    admin = make_admin(settings.kafka)
    consumer = make_consumer(settings.kafka, None, settings.kafka.topics.raw)
    try:
        group = settings.classifier.group_id
        return sum(group_lag(admin, consumer, group, settings.kafka.topics.raw).values())
    finally:
        consumer.close()
        admin.close()


def run_members(settings: Settings, engine: Engine, count: int, stop: threading.Event) -> list:  # type: ignore[type-arg]
    members = []
    for _ in range(count):
        member = ClassifyConsumer(settings, engine, TickerTagger())
        member.setup()
        thread = threading.Thread(target=member.run, args=(stop,), daemon=True)
        thread.start()
        members.append((member, thread))
    return members


def test_scores_every_item_and_dead_letters_poison(
    settings: Settings, unique: str, tiny_model_dir: Path
) -> None:
    isolated = topics_for(settings, unique)
    engine = Engine.from_folder(tiny_model_dir, device="cpu")
    items = [raw_item(i) for i in range(40)]
    empty = raw_item(99).model_copy(update={"title": "", "text": "  "})
    produce_raw(isolated, items, extra=[(b"bad", b"{not json"), (b"empty", encode(empty))])

    stop = threading.Event()
    members = run_members(isolated, engine, 1, stop)
    scored = [decode(ScoredItem, v) for v in read_all(isolated, isolated.kafka.topics.scored, 40)]
    dead = [decode(DeadLetter, v) for v in read_all(isolated, isolated.kafka.topics.deadletter, 2)]
    stop.set()
    for member, thread in members:
        thread.join(30)
        member.close()

    assert sorted(s.id for s in scored) == sorted(i.id for i in items)
    first = scored[0]
    assert first.tickers == ["AAPL", "MSFT"]
    assert first.model == "tiny@0"
    assert first.sentiment.label in ("negative", "neutral", "positive")
    assert {d.reason.split(":")[0] for d in dead} == {"not valid JSON", "nothing to classify"}
    assert all(d.stage == "classify" and d.topic == isolated.kafka.topics.raw for d in dead)

    # Offsets were committed: a new member of the group finds nothing left to do.
    again = ClassifyConsumer(isolated, engine, TickerTagger())
    again.setup()
    try:
        results = [again.run_once() for _ in range(6)]
    finally:
        again.close()
    assert sum(r.scored + r.dead for r in results) == 0


def test_two_members_share_four_partitions(
    settings: Settings, unique: str, tiny_model_dir: Path
) -> None:
    isolated = topics_for(settings, unique)
    stop = threading.Event()
    members = [  # an engine each, as in two processes (a tokeniser is not shared by threads)
        *run_members(isolated, Engine.from_folder(tiny_model_dir, device="cpu"), 1, stop),
        *run_members(isolated, Engine.from_folder(tiny_model_dir, device="cpu"), 1, stop),
    ]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        sizes = [len(m.consumer.assignment()) for m, _ in members]
        if sizes == [2, 2]:
            break
        time.sleep(0.2)
    assert sizes == [2, 2], sizes
    items = [raw_item(i) for i in range(200)]
    produce_raw(isolated, items)
    scored = [decode(ScoredItem, v) for v in read_all(isolated, isolated.kafka.topics.scored, 200)]
    stop.set()
    for member, thread in members:
        thread.join(30)
        member.close()
    counts = Counter(s.id for s in scored)
    assert set(counts) == {i.id for i in items}, "every item scored"
    assert max(counts.values()) == 1, "no item scored twice"


def test_finsent_classify_process_scores_and_drains_on_sigterm(
    settings: Settings, unique: str, tiny_model_dir: Path, tmp_path: Path
) -> None:
    import signal
    import subprocess

    import yaml

    isolated = topics_for(settings, unique)
    config = tmp_path / "finsent.yaml"
    config.write_text(yaml.safe_dump({
        "kafka": {"topics": isolated.kafka.topics.model_dump()},
        "classifier": {"model_dir": str(tiny_model_dir), "group_id": f"{unique}-cli", "device": "cpu"},
    }))  # fmt: skip
    items = [raw_item(i) for i in range(25)]
    produce_raw(isolated, items)
    process = subprocess.Popen(
        [FINSENT, "classify", "-c", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        scored = [
            decode(ScoredItem, v)
            for v in read_all(isolated, isolated.kafka.topics.scored, 25, timeout_s=90)
        ]
    finally:
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=60)
    assert sorted(s.id for s in scored) == sorted(i.id for i in items)
    assert process.returncode == 0, err[-2000:]
    assert "stopping" in err and "stopped" in err


class SlowEngine(Engine):
    """Two seconds a micro-batch: one round of 8 takes longer than max_poll_interval."""

    def _forward(self, tensors: dict[str, torch.Tensor]) -> list[Scores]:
        time.sleep(2.0)
        return super()._forward(tensors)


def test_a_slow_model_never_exceeds_max_poll_interval(
    settings: Settings, unique: str, tiny_model_dir: Path
) -> None:
    isolated = topics_for(settings, unique)
    options = isolated.classifier.model_copy(
        update={"max_batch_items": 4, "max_poll_interval_ms": 10_000}
    )
    isolated = isolated.model_copy(update={"classifier": options})
    items = [raw_item(i) for i in range(32)]  # one round: 8 micro-batches, about 16 s
    produce_raw(isolated, items)
    stop = threading.Event()
    members = run_members(isolated, SlowEngine.from_folder(tiny_model_dir, device="cpu"), 1, stop)
    first = read_all(isolated, isolated.kafka.topics.scored, 32, timeout_s=120)
    assert len(first) == 32
    time.sleep(5)  # a member dropped from the group would re-read the round and score it again
    stop.set()
    for member, thread in members:
        thread.join(60)
        member.close()
    counts = Counter(
        decode(ScoredItem, v).id
        for v in read_all(isolated, isolated.kafka.topics.scored, 33, timeout_s=10)
    )
    assert set(counts) == {i.id for i in items}
    assert max(counts.values()) == 1, "a round was scored twice: the member left the group"
    assert lag(isolated) == 0, "every round committed"


def test_outputs_the_brokers_refuse_are_never_committed(
    settings: Settings, unique: str, tiny_model_dir: Path
) -> None:
    scored_topic = f"{unique}.scored"
    ensure_topics(settings.kafka, [scored_topic], {scored_topic: {"max.message.bytes": "100"}})
    isolated = topics_for(settings, unique)
    produce_raw(isolated, [raw_item(i) for i in range(8)])
    member = ClassifyConsumer(
        isolated, Engine.from_folder(tiny_model_dir, device="cpu"), TickerTagger()
    )
    member.setup()
    try:
        with pytest.raises(KafkaError):  # refused (the producer may also turn fatal first)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                member.run_once()
    finally:
        member.close()
    assert lag(isolated) == 8, "nothing committed: every item is read again after a restart"
