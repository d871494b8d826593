"""Kafka clients built from ``KafkaSettings``: one place knows about TLS and SASL."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any, Protocol

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import KafkaError, KafkaTimeoutError, TopicAlreadyExistsError, UnknownError

from finsent.config import KafkaSettings
from finsent.schemas import DeadLetter, encode

STATE_TOPIC_CONFIG = {"cleanup.policy": "compact", "max.message.bytes": str(8 * 1024 * 1024)}
"""The detector snapshot topic keeps the latest snapshot per partition; snapshots can be big."""


class ConsumerClient(Protocol):
    """What the stage loop uses of a consumer: ``KafkaConsumer`` and ``FakeConsumer`` both.

    Partitions are ``TopicPartition``s, records ``ConsumerRecord``s (kafka-python is untyped).
    """

    def subscribe(self, topics: Iterable[str], listener: Any = None) -> None:
        """Join the group on these topics."""
        ...

    def poll(
        self, timeout_ms: int = 0, max_records: int | None = None
    ) -> Mapping[Any, Sequence[Any]]:
        """Records per partition (runs rebalance callbacks)."""
        ...

    def assignment(self) -> Collection[Any]:
        """Partitions this member owns."""
        ...

    def paused(self) -> Collection[Any]:
        """Partitions not fetched now."""
        ...

    def pause(self, *partitions: Any) -> None:
        """Stop fetching these."""
        ...

    def resume(self, *partitions: Any) -> None:
        """Fetch these again."""
        ...

    def seek(self, partition: Any, offset: int) -> None:
        """Fetch from ``offset`` next."""
        ...

    def commit(self, offsets: Mapping[Any, Any]) -> None:
        """Commit ``OffsetAndMetadata`` per partition."""
        ...

    def committed(self, partition: Any, metadata: bool = False) -> Any:
        """The group's committed offset (with ``metadata``: ``OffsetAndMetadata``)."""
        ...

    def close(self) -> None:
        """Leave the group."""
        ...


def client_options(settings: KafkaSettings) -> dict[str, Any]:
    """Connection options shared by producers, consumers and the admin client."""
    options: dict[str, Any] = {
        "bootstrap_servers": list(settings.bootstrap_servers),
        "client_id": settings.client_id,
        "security_protocol": settings.security_protocol,
    }
    if settings.security_protocol.startswith("SASL_"):
        options["sasl_mechanism"] = settings.sasl_mechanism
        options["sasl_plain_username"] = settings.sasl_username
        if settings.sasl_password is not None:
            options["sasl_plain_password"] = settings.sasl_password.get_secret_value()
    if settings.security_protocol in ("SSL", "SASL_SSL"):
        options["ssl_check_hostname"] = settings.ssl_check_hostname
        for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
            value = getattr(settings, name)
            if value is not None:
                options[name] = str(value)
    return options


def make_producer(settings: KafkaSettings, **overrides: Any) -> KafkaProducer:
    """A durable producer: every write acknowledged by all in-sync replicas, idempotent."""
    options = client_options(settings) | {
        "acks": "all",
        "enable_idempotence": True,
        "compression_type": "gzip",
        "linger_ms": 20,
        "request_timeout_ms": settings.request_timeout_ms,
        "max_block_ms": settings.request_timeout_ms,
    }
    return KafkaProducer(**(options | overrides))


def make_consumer(
    settings: KafkaSettings, group_id: str | None, *topics: str, **overrides: Any
) -> KafkaConsumer:
    """A consumer that commits only when told to (after outputs are durable)."""
    options = client_options(settings) | {
        "group_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
    }
    return KafkaConsumer(*topics, **(options | overrides))


def make_admin(settings: KafkaSettings) -> KafkaAdminClient:
    """An admin client (topic management, health checks)."""
    return KafkaAdminClient(
        **client_options(settings),
        request_timeout_ms=settings.request_timeout_ms,
        bootstrap_timeout_ms=settings.request_timeout_ms,
    )


def ensure_topics(
    settings: KafkaSettings,
    names: Iterable[str] | None = None,
    configs: Mapping[str, dict[str, str]] | None = None,
) -> list[str]:
    """Create missing topics (default: every finsent topic); returns the ones created.

    ``configs`` gives topic-level settings by name (e.g. ``cleanup.policy: compact``).
    """
    wanted = list(names) if names is not None else list(settings.topics.model_dump().values())
    configs = {settings.topics.alert_state: STATE_TOPIC_CONFIG} | dict(configs or {})
    admin = make_admin(settings)
    try:
        missing = [name for name in wanted if name not in set(admin.list_topics())]
        created: list[str] = []
        for name in missing:
            topic = NewTopic(
                name=name,
                num_partitions=settings.topic_partitions,
                replication_factor=settings.topic_replication_factor,
                topic_configs=dict(configs.get(name, {})),
            )
            try:
                admin.create_topics([topic])
                created.append(name)
            except TopicAlreadyExistsError:
                pass  # another process created it in between: the goal is reached
        return created
    finally:
        admin.close()


def broadcast(producer: Any, topic: str, partitions: int, key: bytes, value: bytes) -> None:
    """Send one record to every partition of a topic (progress markers); the caller acks."""
    for partition in range(partitions):
        producer.send(topic, key=key, value=value, partition=partition)


def dead_letter(producer: Any, topic: str, stage: str, record: Any, reason: str) -> Any:
    """Send a consumed record that a stage cannot use to the dead-letter topic, with why.

    Returns the send's future. The caller flushes the producer (``acknowledged``) before
    committing the record's offset.
    """
    letter = DeadLetter.of(
        stage, reason, record.topic, record.partition, record.offset, record.key, record.value
    )
    return producer.send(topic, key=record.key, value=encode(letter))


class AckedProducer:
    """A producer that keeps the futures of its sends until ``acknowledge`` checks them.

    Stages that commit consumed offsets after producing call ``acknowledge`` where they would
    call ``flush``: a send the brokers refused then stops the commit (at-least-once).
    """

    def __init__(self, producer: Any) -> None:
        self.producer = producer
        self.pending: list[Any] = []

    def send(self, *args: Any, **kwargs: Any) -> Any:
        """``KafkaProducer.send``, remembered."""
        future = self.producer.send(*args, **kwargs)
        self.pending.append(future)
        return future

    def acknowledge(self, timeout_s: float) -> None:
        """Flush and check every send since the last call (``acknowledged``)."""
        pending, self.pending = self.pending, []
        acknowledged(self.producer, pending, timeout_s)

    def close(self, timeout: float | None = None) -> None:
        """Flush and close the producer (``close_producer``)."""
        close_producer(self.producer, timeout)


FORCED_CLOSE_S = 10.0
"""How long ``close_producer`` waits for a sender told to stop without its pending sends."""

SPLIT_POLL_S = 0.01
"""How long ``flush`` sleeps before waiting again on the halves of a split batch."""


def flush(producer: Any, timeout_s: float | None = None) -> bool:
    """Wait until every send is done (acknowledged or failed) or ``timeout_s`` is up.

    Whether all were done; the futures say how each went. Unlike ``producer.flush`` it
    waits out batches the brokers refused whole: on MESSAGE_TOO_LARGE kafka-python (3.0.12)
    splits a batch in halves and wakes whoever waits on the old batch's future, which is
    never completed, so its ``flush`` raises ``UnknownError('Future not done')`` while the
    halves are still in flight.
    """
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    left = timeout_s
    while True:
        try:
            producer.flush(timeout=left)
            return True
        except KafkaTimeoutError:
            return False
        except UnknownError:
            time.sleep(SPLIT_POLL_S)
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False


def close_producer(producer: Any, timeout_s: float | None = None) -> None:
    """Flush what the brokers take within ``timeout_s`` (``flush``), then stop the producer.

    kafka-python's ``close`` raises out of its own flush (a split batch, or sends still
    pending at the deadline) and leaves the sender thread running. Whatever was not
    acknowledged by then was never committed by its stage (at-least-once), so it is read
    again after a restart: the producer is stopped without it and the error is not raised.
    """
    if flush(producer, timeout_s):
        with contextlib.suppress(KafkaError):  # what was sent after the flush: forced below
            producer.close(timeout=timeout_s)
            return
    sender = getattr(producer, "_sender", None)  # what close() does past its timeout
    if sender is not None:
        sender.force_close()  # fails the pending sends' futures
        sender.join(FORCED_CLOSE_S)
    with contextlib.suppress(KafkaError):
        producer.close(timeout=0)  # the rest of close(): metrics, serializers


def acknowledged(producer: Any, futures: Sequence[Any], timeout_s: float) -> None:
    """Flush, then raise ``KafkaError`` unless the brokers acknowledged every send.

    ``flush`` returns once every send is done, failed or not: only the futures say which.
    A stage calls this before committing the offsets of what it sent (at-least-once).
    """
    flush(producer, timeout_s)
    failed = [future for future in futures if not future.succeeded()]
    if failed:
        first = failed[0].exception if failed[0].is_done else "not acknowledged in time"
        raise KafkaError(f"{len(failed)} of {len(futures)} records not acknowledged: {first}")


def group_generation(consumer: Any) -> int | None:
    """The consumer group's generation this member is in, or None while it rebalances.

    kafka-python keeps it on the coordinator (not public API): one place reads it.
    """
    coordinator = getattr(consumer, "_coordinator", None)
    stable = getattr(coordinator, "generation_if_stable", None)
    generation = stable() if callable(stable) else None
    return None if generation is None else int(generation.generation_id)


def partition_count(consumer: Any, topic: str, timeout_s: float = 10.0) -> int:
    """Partitions of an existing topic, waiting briefly for metadata."""
    deadline = time.monotonic() + timeout_s
    while True:
        partitions = consumer.partitions_for_topic(topic)
        if partitions:
            return len(partitions)
        if time.monotonic() > deadline:
            raise RuntimeError(f"topic {topic}: no partition metadata after {timeout_s:g} s")
        time.sleep(0.1)


def group_lag(admin: Any, consumer: Any, group: str, topic: str) -> dict[int, int]:
    """Records of each partition of ``topic`` that ``group`` has not committed yet."""
    from kafka import TopicPartition

    partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
    ends = consumer.end_offsets(partitions) if partitions else {}
    committed = admin.list_group_offsets(group).get(group) or {}
    return {
        tp.partition: max(0, ends[tp] - (committed[tp].offset if tp in committed else 0))
        for tp in partitions
    }
