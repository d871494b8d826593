"""Two members of one consumer group share four partitions; every message is consumed once."""

from __future__ import annotations

import threading
import time
from collections import Counter

from kafka import TopicPartition

from finsent.config import Settings
from finsent.kafka import ensure_topics, make_consumer, make_producer

MESSAGES = 400


def test_two_members_share_four_partitions_exactly_once(settings: Settings, unique: str) -> None:
    topic = f"{unique}.raw"
    ensure_topics(settings.kafka.model_copy(update={"topic_partitions": 4}), [topic])
    group = f"{unique}-group"
    consumed: dict[str, list[bytes]] = {"a": [], "b": []}
    assigned: dict[str, set[TopicPartition]] = {"a": set(), "b": set()}
    balanced = threading.Event()
    done = threading.Event()
    errors: list[Exception] = []

    def member(name: str) -> None:
        consumer = make_consumer(settings.kafka, group, topic, client_id=f"member-{name}")
        try:
            deadline = time.monotonic() + 90
            while not done.is_set() and time.monotonic() < deadline:
                batches = consumer.poll(timeout_ms=200)
                assigned[name] = set(consumer.assignment())
                for records in batches.values():
                    consumed[name].extend(r.value for r in records)
                if batches:
                    consumer.commit()
                if all(len(parts) == 2 for parts in assigned.values()):
                    balanced.set()
        except Exception as exc:  # noqa: BLE001 - surfaced in the main thread
            errors.append(exc)
        finally:
            consumer.close()

    threads = [threading.Thread(target=member, args=(n,), daemon=True) for n in ("a", "b")]
    for thread in threads:
        thread.start()
    assert balanced.wait(60), f"group never balanced: {assigned}"

    producer = make_producer(settings.kafka)
    for i in range(MESSAGES):
        producer.send(topic, key=f"k{i}".encode(), value=f"m{i}".encode())
    producer.flush(timeout=30)
    producer.close()

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and sum(map(len, consumed.values())) < MESSAGES:
        time.sleep(0.1)
    done.set()
    for thread in threads:
        thread.join(30)

    assert not errors, errors
    assert assigned["a"].isdisjoint(assigned["b"])
    assert {tp.partition for tp in assigned["a"] | assigned["b"]} == {0, 1, 2, 3}
    counts = Counter(consumed["a"] + consumed["b"])
    print(f"member a: {len(consumed['a'])} messages, member b: {len(consumed['b'])}")
    assert len(counts) == MESSAGES, "every message consumed"
    assert max(counts.values()) == 1, "no message consumed twice"
    assert consumed["a"] and consumed["b"], "both members did work"
