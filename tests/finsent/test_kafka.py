"""finsent.kafka.acknowledged: a commit waits for every send's acknowledgement."""

import pytest
from kafka.errors import KafkaError, MessageSizeTooLargeError
from kafka.future import Future

from finsent.kafka import acknowledged


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
