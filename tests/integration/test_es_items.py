"""A ScoredItem indexed through the shipped template is found by search."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from elasticsearch import BadRequestError, Elasticsearch

from finsent.config import Settings
from finsent.es import install_templates, load_templates, make_client
from finsent.schemas import (
    Prediction,
    ScoredItem,
    SentimentPrediction,
    make_item_id,
)
from tests.integration.conftest import drop_test_indices

T0 = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)


@pytest.fixture
def es(settings: Settings, unique: str) -> Iterator[Elasticsearch]:
    client = make_client(settings.elasticsearch)
    yield client
    drop_test_indices(client, unique)


def test_scored_item_indexed_and_found(es: Elasticsearch, unique: str) -> None:
    installed = install_templates(es, unique)
    assert installed == [f"{unique}-alerts", f"{unique}-items"]
    assert install_templates(es, unique) == installed, "idempotent"
    item = ScoredItem(
        id=make_item_id("cnbc", "https://cnbc.com/x"),
        source="cnbc",
        kind="news",
        title="Tesla recalls 2 million vehicles",
        text="Regulators said on Tuesday ...",
        url="https://cnbc.com/x",
        published_at=T0,
        fetched_at=T0,
        symbols=["TSLA"],
        sentiment=SentimentPrediction(
            label="negative", scores={"negative": 0.93, "neutral": 0.05, "positive": 0.02}
        ),
        topic=Prediction(label="Company | Product News", scores={"Company | Product News": 0.7}),
        tickers=["TSLA"],
        model="test@1",
        classified_at=T0,
    )
    index = f"{unique}-items-{item.published_at:%Y.%m.%d}"
    document = item.model_dump(mode="json")
    es.index(index=index, id=item.id, document=document, refresh="wait_for")
    es.index(index=index, id=item.id, document=document, refresh="wait_for")  # a replay

    hits = es.search(
        index=f"{unique}-items",  # the alias from the template
        query={"bool": {"filter": [
            {"term": {"tickers": "TSLA"}},
            {"term": {"sentiment.label": "negative"}},
            {"range": {"published_at": {"gte": "2026-03-02T00:00:00Z"}}},
        ], "must": [{"match": {"title": "recalls"}}]}},
    )["hits"]  # fmt: skip
    assert hits["total"]["value"] == 1, "same _id: a replay never duplicates"
    assert hits["hits"][0]["_id"] == item.id
    assert ScoredItem.model_validate(hits["hits"][0]["_source"]) == item
    mapping = es.indices.get_mapping(index=index)[index]["mappings"]
    assert mapping["properties"]["published_at"]["type"] == "date"
    assert mapping["properties"]["tickers"]["type"] == "keyword"


def test_strict_mapping_rejects_unknown_fields(es: Elasticsearch, unique: str) -> None:
    install_templates(es, unique)
    with pytest.raises(BadRequestError, match="strict_dynamic_mapping_exception"):
        es.index(index=f"{unique}-items-2026.03.02", document={"id": "x", "surprise": 1})


def test_setup_brings_existing_indices_up_to_date(es: Elasticsearch, unique: str) -> None:
    old = load_templates(unique)[f"{unique}-items"]
    del old["template"]["mappings"]["properties"]["is_negative"]  # an index from an older version
    es.indices.create(index=f"{unique}-items-2026.01.01", mappings=old["template"]["mappings"])
    install_templates(es, unique)
    es.index(index=f"{unique}-items-2026.01.01", id="x", document={"id": "x", "is_negative": 1},
             refresh=True)  # fmt: skip
    mapping = es.indices.get_mapping(index=f"{unique}-items-2026.01.01")
    assert (
        mapping[f"{unique}-items-2026.01.01"]["mappings"]["properties"]["is_negative"]["type"]
        == "byte"
    )
