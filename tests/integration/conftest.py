"""Integration tests run against the real Kafka and Elasticsearch of `finsent stack`.

The session fixture brings the stack up (idempotently) and fails, never skips, when it
cannot: CI must not go green without them. A stack this session started is stopped at the
end; one that was already running (a developer's) is left alone. Every test works on its
own random topic / index names.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch

from finsent.config import Settings, load_settings
from finsent.kafka import make_consumer
from finsent.schemas import WATERMARK_KEY
from finsent.stack.manager import Stack, StackError


@pytest.fixture(scope="session")
def settings() -> Iterator[Settings]:
    settings = load_settings()
    stack = Stack(settings, say=lambda line: print(f"[stack] {line}"))
    already = all(s.healthy for s in stack.status() if s.managed)
    try:
        stack.up()
    except StackError as exc:
        pytest.fail(f"the local stack did not come up: {exc}", pytrace=False)
    yield settings
    if not already:
        stack.down()


@pytest.fixture
def unique() -> str:
    """A fresh lower-case name fragment for this test's topics and indices."""
    return f"t{uuid.uuid4().hex[:10]}"


def isolate(settings: Settings, unique: str, **alerting: object) -> Settings:
    """Settings whose topics, indices, groups and outbox belong to one test only."""
    names = settings.kafka.topics.model_dump()
    topics = settings.kafka.topics.model_copy(
        update={field: f"{unique}.{field}" for field in names}
    )
    kafka = settings.kafka.model_copy(update={"topics": topics})
    es = settings.elasticsearch.model_copy(update={"index_prefix": unique})
    classifier = settings.classifier.model_copy(update={"group_id": f"{unique}-classify"})
    alerts = settings.alerting.model_copy(
        update={"group_id": f"{unique}-alert", "outbox_path": Path(f"/tmp/{unique}/outbox.sqlite3")}
        | alerting
    )
    return settings.model_copy(
        update={"kafka": kafka, "elasticsearch": es, "classifier": classifier, "alerting": alerts}
    )


def read_topic(settings: Settings, topic: str) -> list[bytes]:
    """Every record value of a topic (no group), once it has been quiet for 3 s.

    Progress markers (Kafka key ``WATERMARK_KEY``) are not data: they are left out.
    """
    consumer = make_consumer(settings.kafka, None, topic, consumer_timeout_ms=3000)
    values = [r.value for r in consumer if r.key != WATERMARK_KEY]
    consumer.close()
    return values


def drop_test_indices(client: Elasticsearch, unique: str) -> None:
    """Delete a test's indices and its two index templates (those of ``isolate``)."""
    names = list(client.indices.get(index=f"{unique}-*", allow_no_indices=True))
    if names:
        client.indices.delete(index=",".join(names))
    for name in ("items", "alerts"):
        client.options(ignore_status=404).indices.delete_index_template(name=f"{unique}-{name}")
