"""The stage loop on in-memory doubles: decode, dead letters, acks before commits, rebalances."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from kafka import TopicPartition
from kafka.errors import KafkaError

from finsent import telemetry
from finsent.kafka import AckedProducer
from finsent.schemas import DeadLetter, KeyedWatermark, decode, encode
from finsent.stage.handler import Handler, Received
from finsent.stage.loop import LoopOptions, StageLoop
from finsent.testing import FakeConsumer, FakeProducer

IN, DLQ, OUT = "in", "dlq", "out"


def marker(i: int) -> bytes:
    return encode(KeyedWatermark(busy=[i], idle=[]))


class Echo(Handler[KeyedWatermark]):
    """Produces one output per input; holds the records of partitions in ``holding``."""

    schema = KeyedWatermark

    def __init__(self) -> None:
        self.seen: list[int] = []
        self.holding: dict[Any, int] = {}
        self.fail = False
        self.flushed = 0
        self.closed = False

    def handle(self, batch: Sequence[Received[KeyedWatermark]]) -> None:
        if self.fail:
            raise RuntimeError("boom")
        for received in batch:
            self.seen.append(received.value.busy[0])
            self.loop.producer.send(OUT, value=encode(received.value))

    def held(self, tp: Any) -> int | None:
        return self.holding.get(tp)

    def flush(self) -> None:
        self.flushed += 1
        self.loop.producer.producer.journal.append("handler flush")

    def close(self) -> None:
        self.closed = True


def make(partitions: int = 2) -> tuple[StageLoop[KeyedWatermark], Echo, FakeConsumer, FakeProducer]:
    journal: list[str] = []
    consumer = FakeConsumer({IN: partitions}, journal)
    producer = FakeProducer(journal)
    handler = Echo()
    options = LoopOptions(stage="test", topics=[IN], deadletter_topic=DLQ, ack_timeout_s=1)
    loop = StageLoop(consumer, AckedProducer(producer), handler, options)
    loop.subscribe()
    return loop, handler, consumer, producer


def test_outputs_are_acknowledged_before_offsets_are_committed() -> None:
    loop, handler, consumer, producer = make()
    for i in range(3):
        consumer.add(IN, 0, marker(i))
    consumer.add(IN, 1, marker(10))
    assert loop.run_once() == 4
    assert sorted(handler.seen) == [0, 1, 2, 10]
    assert len(producer.values(OUT)) == 4
    # sends, then the handler's flush, then the producer flush (acks), then the commit
    assert producer.journal[-3:] == ["handler flush", "flush", "commit 0:3,1:1"]
    assert consumer.committed_offsets == {TopicPartition(IN, 0): 3, TopicPartition(IN, 1): 1}


def test_undecodable_records_are_dead_lettered_with_the_reason_and_counted_by_kind() -> None:
    loop, handler, consumer, producer = make(1)
    before = telemetry.DEAD_LETTERS.labels("test", "json")._value.get()
    consumer.add(IN, 0, b"{not json", key=b"k1")
    consumer.add(IN, 0, marker(1))
    consumer.add(IN, 0, b"[also not", key=b"k2")
    consumer.add(IN, 0, None)
    loop.run_once()
    letters = [decode(DeadLetter, v) for v in producer.values(DLQ)]
    assert [(d.offset, d.key) for d in letters] == [(0, "k1"), (2, "k2"), (3, None)]
    assert letters[0].reason.startswith("not valid JSON") and letters[0].stage == "test"
    assert letters[2].reason == "empty record (no value)"
    assert telemetry.DEAD_LETTERS.labels("test", "json")._value.get() == before + 2
    assert handler.seen == [1]
    assert consumer.committed_offsets == {TopicPartition(IN, 0): 4}, "dead letters are done"
    assert loop.dead_lettered == 3


def test_dead_letters_are_logged_once_per_kind(capsys: pytest.CaptureFixture[str]) -> None:
    from finsent.config import LoggingSettings
    from finsent.logs import configure

    configure(LoggingSettings())
    loop, _, consumer, _ = make(1)
    for _ in range(5):
        consumer.add(IN, 0, b"{bad")
    consumer.add(IN, 0, b'{"schema_version": 9}')
    loop.run_once()
    lines = [line for line in capsys.readouterr().err.splitlines() if "dead-lettered" in line]
    assert len(lines) == 2, lines  # one "json", one "version"


def test_a_held_record_is_where_the_commit_stops() -> None:
    loop, handler, consumer, _ = make(1)
    tp = TopicPartition(IN, 0)
    for i in range(5):
        consumer.add(IN, 0, marker(i))
    handler.holding[tp] = 2
    loop.run_once()
    assert consumer.committed_offsets[tp] == 2
    handler.holding.clear()  # released with the next round's record
    consumer.add(IN, 0, marker(5))
    loop.run_once()
    assert consumer.committed_offsets[tp] == 6


def test_a_refused_send_stops_the_commit_and_close_commits_nothing() -> None:
    loop, handler, consumer, producer = make(1)
    consumer.add(IN, 0, marker(1))
    producer.refuse = "MessageSizeTooLargeError"
    with pytest.raises(KafkaError, match="MessageSizeTooLarge"):
        loop.run_once()
    loop.close()
    assert consumer.commits == []
    assert consumer.closed and producer.closed and handler.closed


def test_a_round_that_raises_is_never_committed() -> None:
    loop, handler, consumer, _ = make(1)
    consumer.add(IN, 0, marker(1))
    handler.fail = True
    with pytest.raises(RuntimeError):
        loop.run_once()
    loop.close()
    assert consumer.commits == [], "the record is re-read after the restart"


def test_close_checkpoints_a_healthy_loop() -> None:
    loop, handler, consumer, _ = make(1)
    tp = TopicPartition(IN, 0)
    consumer.add(IN, 0, marker(1))
    handler.holding[tp] = 0
    loop.run_once()
    handler.holding.clear()
    loop.close()
    assert consumer.committed_offsets[tp] == 1
    assert handler.flushed == 2


def test_unchanged_offsets_are_not_committed_again() -> None:
    loop, _, consumer, _ = make(1)
    consumer.add(IN, 0, marker(1))
    loop.run_once()
    loop.checkpoint()
    loop.checkpoint()
    assert len(consumer.commits) == 1


def test_revoked_partitions_are_forgotten_and_their_early_records_dropped() -> None:
    loop, handler, consumer, _ = make(2)
    consumer.add(IN, 0, marker(0))
    loop.run_once()
    revoked: list[Any] = []
    handler.revoked = revoked.extend  # type: ignore[method-assign,assignment]
    tp1 = TopicPartition(IN, 1)
    consumer.add(IN, 1, marker(1))
    with loop.paused():
        loop.last_poll = 0.0
        loop.keep_alive()  # partition 1 is paused too: nothing returned
    assert loop._early == []
    loop.wait_paused(0.01)
    consumer.revoke([tp1])
    assert revoked == [tp1]
    assert tp1 not in loop.positions
    consumer.add(IN, 0, marker(2))
    loop.run_once()
    assert handler.seen == [0, 2]


def test_keep_alive_polls_keep_records_of_newly_assigned_partitions_for_the_next_round() -> None:
    loop, handler, consumer, _ = make(2)
    tp1 = TopicPartition(IN, 1)
    consumer.add(IN, 0, marker(0))
    loop.run_once()
    consumer.revoke([tp1])
    consumer.add(IN, 1, marker(1))
    with loop.paused():
        consumer.reassign([tp1])
        loop.last_poll = 0.0
        loop.keep_alive()  # the new partition is not paused: its record comes back now
    assert len(loop._early) == 1
    assert handler.seen == [0], "not handled during the paused work"
    loop.run_once()
    assert handler.seen == [0, 1]
    assert consumer.committed_offsets[tp1] == 1


def test_a_seek_in_refresh_drops_the_records_fetched_before_it() -> None:
    loop, handler, consumer, _ = make(1)
    tp = TopicPartition(IN, 0)
    for i in range(4):
        consumer.add(IN, 0, marker(i))

    adopted = [tp]

    def restore() -> None:
        while adopted:
            loop.seek(adopted.pop(), 2)

    handler.refresh = restore  # type: ignore[method-assign]
    loop.run_once()  # polled 0..3, then re-positioned to 2: those records are dropped
    assert handler.seen == []
    loop.run_once()
    assert handler.seen == [2, 3]
    assert consumer.committed_offsets[tp] == 4


def test_binary_payloads_are_dead_lettered_byte_for_byte() -> None:
    loop, _, consumer, producer = make(1)
    poison = bytes(range(256)) * 4
    consumer.add(IN, 0, poison)
    consumer.add(IN, 0, "{ünïcode".encode())
    loop.run_once()
    binary, text = (decode(DeadLetter, v) for v in producer.values(DLQ))
    assert binary.payload_encoding == "base64" and binary.original() == poison
    assert text.payload_encoding == "utf-8" and text.original() == "{ünïcode".encode()


def test_a_record_dead_lettered_before_a_restart_is_not_dead_lettered_again() -> None:
    loop, handler, consumer, producer = make(1)
    tp = TopicPartition(IN, 0)
    consumer.add(IN, 0, marker(0))
    consumer.add(IN, 0, b"{poison")
    consumer.add(IN, 0, marker(2))
    handler.holding[tp] = 0  # the first record is still buffered: the commit stays at 0
    loop.run_once()
    assert len(producer.values(DLQ)) == 1
    assert consumer.committed_offsets[tp] == 0
    assert consumer.committed_metadata[tp] == "dead:1", "the dead letter is remembered"
    # kill -9 and restart: the new member re-reads from offset 0
    restarted = FakeConsumer({IN: 1}, [])
    restarted.logs = consumer.logs
    restarted.committed_offsets = dict(consumer.committed_offsets)
    restarted.committed_metadata = dict(consumer.committed_metadata)
    again_producer = FakeProducer()
    again_handler = Echo()
    options = LoopOptions(stage="test", topics=[IN], deadletter_topic=DLQ, ack_timeout_s=1)
    again = StageLoop(restarted, AckedProducer(again_producer), again_handler, options)
    again.subscribe()
    again.run_once()
    assert again_handler.seen == [0, 2]
    assert again_producer.values(DLQ) == [], "never dead-lettered twice"
    assert restarted.committed_offsets[tp] == 3
    assert restarted.committed_metadata[tp] == "", "nothing ahead of the commit to remember"


class Bloat(Echo):
    """Outputs a value of the size the record asks for (busy[0] bytes)."""

    def handle(self, batch: Sequence[Received[KeyedWatermark]]) -> None:
        for received in batch:
            self.seen.append(received.value.busy[0])
            self.loop.produce(received.record, OUT, b"x" * received.value.busy[0])


@pytest.mark.parametrize("refusal", ["producer", "broker"])
def test_an_output_the_brokers_can_never_take_dead_letters_its_record(refusal: str) -> None:
    journal: list[str] = []
    consumer = FakeConsumer({IN: 1}, journal)
    producer = FakeProducer(journal)
    if refusal == "producer":
        producer.max_request_size = 1000
    else:
        producer.broker_max_bytes = 1000
    options = LoopOptions(stage="test", topics=[IN], deadletter_topic=DLQ, ack_timeout_s=1)
    loop = StageLoop(consumer, AckedProducer(producer), Bloat(), options)
    loop.subscribe()
    for size in (10, 5000, 20):
        consumer.add(IN, 0, marker(size))
    loop.run_once()  # no KafkaError: the poison record is dead-lettered, the stage goes on
    assert [len(v) for v in producer.values(OUT)] == [10, 20]
    (letter,) = [decode(DeadLetter, v) for v in producer.values(DLQ)]
    assert letter.offset == 1 and letter.reason.startswith(f"output to {OUT} refused")
    assert consumer.committed_offsets[TopicPartition(IN, 0)] == 3


def test_a_huge_record_is_dead_lettered_truncated_and_says_so() -> None:
    from finsent.schemas import MAX_DEAD_PAYLOAD

    loop, _, consumer, producer = make(1)
    huge = b"{" + b"a" * (3 * MAX_DEAD_PAYLOAD)
    consumer.add(IN, 0, huge)
    loop.run_once()
    (letter,) = [decode(DeadLetter, v) for v in producer.values(DLQ)]
    assert letter.truncated and letter.payload_size == len(huge)
    assert letter.original() == huge[:MAX_DEAD_PAYLOAD]
    assert len(producer.values(DLQ)[0]) < 1024 * 1024


class Rebalancing(FakeConsumer):
    """Takes partition 1 away in the second poll call of a round."""

    def __init__(self) -> None:
        super().__init__({IN: 2})
        self.calls = 0

    def poll(self, timeout_ms: int = 0, max_records: int | None = None, **kw: Any) -> Any:
        self.calls += 1
        if self.calls == 2:  # the round's second poll
            self.revoke([TopicPartition(IN, 1)])
        return super().poll(timeout_ms, max_records, **kw)


def test_records_of_a_partition_revoked_later_in_the_round_are_not_handled_or_committed() -> None:
    consumer = Rebalancing()
    consumer.add(IN, 0, marker(0))
    consumer.add(IN, 1, marker(1))
    handler = Echo()
    options = LoopOptions(stage="test", topics=[IN], deadletter_topic=DLQ, ack_timeout_s=1,
                          max_wait_ms=50)  # fmt: skip
    loop = StageLoop(consumer, AckedProducer(FakeProducer()), handler, options)
    loop.subscribe()
    loop.run_once()  # poll 1 fetches both; poll 2 (same round) revokes partition 1
    assert handler.seen == [0]
    assert TopicPartition(IN, 1) not in consumer.committed_offsets, "the new owner reads it"
