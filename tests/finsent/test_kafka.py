"""finsent.kafka.acknowledged and flush: a commit waits for every send's acknowledgement."""

from itertools import pairwise

import pytest
from kafka.errors import KafkaError, MessageSizeTooLargeError, UnknownError
from kafka.future import Future

from finsent.kafka import AckedProducer, acknowledged, flush


class Flushed:
    """The producer side of ``acknowledged``: ``flush`` returns whatever became of the sends."""

    def __init__(self) -> None:
        self.flushes: list[float] = []

    def flush(self, timeout: float) -> None:
        self.flushes.append(timeout)


def done(error: Exception | None = None) -> Future:
    future = Future()
    return future.failure(error) if error else future.success("metadata")


def test_every_acknowledged_send_passes() -> None:
    producer = Flushed()
    acknowledged(producer, [done(), done()], timeout_s=5)
    assert producer.flushes == [5]


def test_a_refused_send_raises_with_the_brokers_reason() -> None:
    futures = [done(), done(MessageSizeTooLargeError("record too large")), done()]
    with pytest.raises(KafkaError, match=r"1 of 3 records not acknowledged: .*too large"):
        acknowledged(Flushed(), futures, timeout_s=5)


def test_a_send_still_pending_after_the_flush_raises() -> None:
    with pytest.raises(KafkaError, match="not acknowledged in time"):
        acknowledged(Flushed(), [done(), Future()], timeout_s=5)


class Sends(Flushed):
    """A producer whose sends come back as already settled futures, in order."""

    def __init__(self, outcomes: list[Exception | None]) -> None:
        super().__init__()
        self.outcomes = outcomes
        self.sent: list[tuple[object, ...]] = []

    def send(self, *args: object, **kwargs: object) -> Future:
        self.sent.append(args)
        return done(self.outcomes.pop(0))


def test_acked_producer_checks_each_send_once() -> None:
    inner = Sends([None, None, MessageSizeTooLargeError("too large"), None])
    producer = AckedProducer(inner)
    producer.send("t", value=b"1")
    producer.send("t", value=b"2")
    producer.acknowledge(timeout_s=3)  # both acknowledged
    assert producer.pending == [] and inner.flushes == [3]
    producer.send("t", value=b"3")
    with pytest.raises(KafkaError, match="1 of 1 records"):
        producer.acknowledge(timeout_s=3)
    producer.send("t", value=b"4")
    producer.acknowledge(timeout_s=3)  # the refused send is not checked again
    assert inner.sent == [("t",)] * 4


class Splitting(Flushed):
    """kafka-python's flush while a refused batch is split: ``UnknownError`` a few times."""

    def __init__(self, raises: int) -> None:
        super().__init__()
        self.raises = raises

    def flush(self, timeout: float) -> None:
        super().flush(timeout)
        if self.raises:
            self.raises -= 1
            raise UnknownError("Future not done")


def test_a_flush_woken_by_a_split_batch_waits_again_within_its_time() -> None:
    producer = Splitting(raises=3)
    assert flush(producer, timeout_s=5)
    assert len(producer.flushes) == 4 and producer.flushes[0] == 5
    assert all(0 < later <= earlier for earlier, later in pairwise(producer.flushes))


def test_a_flush_that_keeps_being_woken_gives_up_at_its_deadline() -> None:
    producer = Splitting(raises=10**9)
    assert not flush(producer, timeout_s=0.2)
