import threading

from finsent.config import KafkaSettings
from finsent.reader import follow
from finsent.testing import FakeConsumer


def test_the_last_n_records_count_across_partitions_newest_first_by_time() -> None:
    consumer = FakeConsumer({"alerts": 3})
    for t in range(12):  # timestamps 0..11 spread over three partitions
        consumer.add("alerts", t % 3, str(t).encode(), timestamp=t)
    stop = threading.Event()
    shown = []
    for record in follow(KafkaSettings(), "alerts", 4, stop, consumer=consumer):
        shown.append(int(record.value))
        if len(shown) == 4:
            break
    assert shown == [8, 9, 10, 11], "the newest four overall, oldest of them first"
    assert consumer.closed


def test_records_that_arrive_later_follow_in_time_order() -> None:
    consumer = FakeConsumer({"alerts": 2})
    consumer.add("alerts", 0, b"0", timestamp=0)
    stop = threading.Event()
    stream = follow(KafkaSettings(), "alerts", 10, stop, consumer=consumer)
    assert int(next(stream).value) == 0
    consumer.add("alerts", 1, b"2", timestamp=2)
    consumer.add("alerts", 0, b"1", timestamp=1)
    assert [int(next(stream).value) for _ in range(2)] == [1, 2]
    stop.set()
    assert list(stream) == []
