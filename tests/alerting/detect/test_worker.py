"""The detector worker on in-memory Kafka doubles: checkpoint order and restarts."""

from __future__ import annotations

import json
import time
from typing import Any

from kafka import TopicPartition

from alerting.detect.rules import load_rules
from alerting.detect.worker import WorkerHandler
from alerting.tools.simulate import Traffic, generate
from finsent.config import Settings
from finsent.kafka import AckedProducer
from finsent.schemas import Alert, KeyedItem, decode, encode
from finsent.stage.loop import LoopOptions, StageLoop
from finsent.testing import FakeConsumer, FakeProducer

SETTINGS = Settings(alerting={"checkpoint_interval_s": 0.001, "wall_clock": False})
TOPICS = SETTINGS.kafka.topics
KEYED = TopicPartition(TOPICS.keyed, 0)


class MemorySnapshots:
    """The snapshot store's contract, in memory (JSON round trip, like the real one)."""

    def __init__(self, journal: list[str]) -> None:
        self.saved: dict[int, str] = {}
        self.journal = journal

    def save(self, partition: int, offset: int, state: dict[str, Any]) -> None:
        self.saved[partition] = json.dumps({"offset": offset, "state": state})
        self.journal.append(f"snapshot {partition}@{offset}")

    def load(self, partition: int) -> tuple[int, dict[str, Any]] | None:
        if partition not in self.saved:
            return None
        data = json.loads(self.saved[partition])
        return int(data["offset"]), data["state"]

    def close(self) -> None:
        pass


def entries() -> list[KeyedItem]:
    keys = {"ticker:ACME": Traffic(10.0, 10.0, surge_window=150), "topic:Macro": Traffic(4.0, 8.0)}
    return [e.model_copy(update={"origin": 0}) for e in generate(keys, windows=200, seed=3)]


def member(
    consumer: FakeConsumer, store: MemorySnapshots, journal: list[str]
) -> tuple[StageLoop[Any], FakeProducer]:
    producer = FakeProducer(journal)
    handler = WorkerHandler(SETTINGS, load_rules(), store, origins=1)
    options = LoopOptions(stage="alert", topics=[TOPICS.keyed], deadletter_topic=TOPICS.deadletter,
                          ack_timeout_s=1, max_records=300)  # fmt: skip
    loop = StageLoop(consumer, AckedProducer(producer), handler, options)
    loop.subscribe()
    return loop, producer


def drain(loop: StageLoop[Any], consumer: FakeConsumer) -> None:
    while consumer.position(KEYED) < consumer.highwater(KEYED) or consumer.polls == 0:
        loop.run_once()


def alert_ids(producer: FakeProducer) -> list[str]:
    return [decode(Alert, v).id for v in producer.values(TOPICS.alerts)]


def test_alerts_are_acknowledged_and_snapshotted_before_the_offsets_are_committed() -> None:
    journal: list[str] = []
    consumer = FakeConsumer({TOPICS.keyed: 1}, journal)
    for entry in entries():
        consumer.add(TOPICS.keyed, 0, encode(entry), key=entry.key.encode())
    consumer.add(TOPICS.keyed, 0, b"{poison")
    loop, producer = member(consumer, MemorySnapshots(journal), journal)
    drain(loop, consumer)
    loop.close()
    assert any(decode(Alert, v).key == "ticker:ACME" for v in producer.values(TOPICS.alerts))
    commits = [i for i, line in enumerate(journal) if line.startswith("commit")]
    assert commits
    for at in commits:
        before = journal[:at]
        offset = journal[at].split(":")[1]
        assert before[-1] == "flush", "the commit follows the acknowledgement"
        assert f"snapshot 0@{offset}" in before, "a snapshot covers the committed offset"
    for at, line in enumerate(journal):
        if line.startswith("snapshot"):
            sends = [i for i, e in enumerate(journal[:at]) if e == f"send {TOPICS.alerts}"]
            if sends:
                assert "flush" in journal[sends[-1] : at], "alerts acknowledged before the snapshot"
    assert consumer.committed_offsets[KEYED] == consumer.highwater(KEYED)


def test_a_member_killed_mid_stream_resumes_from_its_snapshot_and_fires_the_same_events() -> None:
    items = entries()
    whole_journal: list[str] = []
    whole = FakeConsumer({TOPICS.keyed: 1}, whole_journal)
    for entry in items:
        whole.add(TOPICS.keyed, 0, encode(entry), key=entry.key.encode())
    loop, producer = member(whole, MemorySnapshots(whole_journal), whole_journal)
    drain(loop, whole)
    loop.close()
    expected = alert_ids(producer)

    journal: list[str] = []
    store = MemorySnapshots(journal)
    consumer = FakeConsumer({TOPICS.keyed: 1}, journal)
    cut = len(items) * 2 // 3
    for entry in items[:cut]:
        consumer.add(TOPICS.keyed, 0, encode(entry), key=entry.key.encode())
    first, first_out = member(consumer, store, journal)
    drain(first, consumer)
    first.checkpoint()
    # kill -9: what it sent after its last checkpoint may be lost or repeated; no close
    for entry in items[cut:]:
        consumer.add(TOPICS.keyed, 0, encode(entry), key=entry.key.encode())
    restarted = FakeConsumer({TOPICS.keyed: 1}, journal)
    restarted.logs = consumer.logs
    restarted.committed_offsets = dict(consumer.committed_offsets)
    second, second_out = member(restarted, store, journal)
    drain(second, restarted)
    second.close()
    assert set(alert_ids(first_out)) | set(alert_ids(second_out)) == set(expected)
    assert len(expected) > 0


def test_markers_alone_move_the_commit_without_a_snapshot_and_a_restart_resumes_right() -> None:
    from finsent.schemas import WATERMARK_KEY, KeyedWatermark

    journal: list[str] = []
    store = MemorySnapshots(journal)
    consumer = FakeConsumer({TOPICS.keyed: 1}, journal)
    items = entries()[:200]
    for entry in items:
        consumer.add(TOPICS.keyed, 0, encode(entry), key=entry.key.encode())
    loop, _ = member(consumer, store, journal)
    drain(loop, consumer)
    snapshotted = store.load(0)
    assert snapshotted is not None and snapshotted[0] == len(items)
    marker = encode(KeyedWatermark(busy=[], idle=[0], progress=items[-1].published_at))
    for _ in range(50):  # a router's markers, twice a second, nothing else
        consumer.add(TOPICS.keyed, 0, marker, key=WATERMARK_KEY)
    drain(loop, consumer)
    time.sleep(0.01)  # past checkpoint_interval_s (1 ms here)
    loop.run_once()
    assert store.load(0) == snapshotted, "no new state: no new snapshot"
    assert consumer.committed_offsets[KEYED] == len(items) + 50, "but the lag does not grow"
    restarted = FakeConsumer({TOPICS.keyed: 1}, journal)
    restarted.logs = consumer.logs
    restarted.committed_offsets = dict(consumer.committed_offsets)
    again, _ = member(restarted, store, journal)
    again.run_once()
    assert restarted.position(KEYED) == len(items), "re-read from the snapshot's offset"
    again.run_once()
    assert restarted.position(KEYED) == len(items) + 50
