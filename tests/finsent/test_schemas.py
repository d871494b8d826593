import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from finsent.schemas import (
    Alert,
    AlertSample,
    Prediction,
    RawItem,
    SchemaError,
    ScoredItem,
    SentimentPrediction,
    decode,
    encode,
    make_item_id,
)

T0 = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)


def raw(**overrides: object) -> RawItem:
    fields: dict[str, object] = {
        "id": make_item_id("cnbc", "https://cnbc.com/a"),
        "source": "cnbc",
        "kind": "news",
        "title": "Apple shares slide",
        "text": "Apple fell 5% after ...",
        "url": "https://cnbc.com/a",
        "published_at": T0,
        "fetched_at": T0 + timedelta(minutes=1),
        "lang": "en",
        "symbols": ["AAPL"],
        "story_id": "s1",
    } | overrides
    return RawItem.model_validate(fields)


def scored() -> ScoredItem:
    return ScoredItem(
        **raw().model_dump(),
        sentiment=SentimentPrediction(
            label="negative", scores={"negative": 0.9, "neutral": 0.07, "positive": 0.03}
        ),
        topic=Prediction(label="Stock Movement", scores={"Stock Movement": 0.8}),
        tickers=["AAPL"],
        model="finsent-minilm@1",
        classified_at=T0 + timedelta(minutes=2),
    )


def test_wire_field_names_are_the_public_contract() -> None:
    wire = json.loads(encode(scored()))
    assert set(wire) == {
        "schema_version", "id", "source", "kind", "title", "text", "url", "published_at",
        "fetched_at", "lang", "symbols", "author", "story_id", "extra", "sentiment", "topic",
        "tickers", "model", "classified_at",
    }  # fmt: skip
    assert wire["schema_version"] == 1
    assert wire["published_at"] == "2026-03-02T14:30:00Z"
    assert wire["sentiment"] == {
        "label": "negative",
        "scores": {"negative": 0.9, "neutral": 0.07, "positive": 0.03},
    }


@pytest.mark.parametrize("message", [raw(), scored()])
def test_round_trip(message: RawItem) -> None:
    assert decode(type(message), encode(message)) == message


def test_alert_round_trip_and_fields() -> None:
    alert = Alert(
        id="a1",
        incident_id="i1",
        rule="negative-surge",
        key="ticker:AAPL",
        status="firing",
        window_start=T0,
        window_end=T0 + timedelta(minutes=15),
        observed=12,
        expected=2.5,
        ratio=4.8,
        p_value=1e-5,
        severity="high",
        samples=[AlertSample(id="i1", title="Apple slides", url="https://x", score=0.97)],
        kibana_url="http://kibana/app/discover#/",
        created_at=T0,
    )
    assert decode(Alert, encode(alert)) == alert
    assert set(json.loads(encode(alert))) >= {
        "id", "rule", "key", "status", "window_start", "window_end", "observed", "expected",
        "ratio", "p_value", "severity", "samples", "kibana_url", "created_at",
    }  # fmt: skip


def test_times_are_normalised_to_utc() -> None:
    paris = timezone(timedelta(hours=1))
    item = raw(published_at=datetime(2026, 3, 2, 15, 30, tzinfo=paris))
    assert item.published_at == T0
    assert item.published_at.utcoffset() == timedelta(0)


def test_naive_time_is_rejected() -> None:
    payload = json.loads(encode(raw()))
    payload["published_at"] = "2026-03-02T14:30:00"
    with pytest.raises(SchemaError, match="published_at"):
        decode(RawItem, json.dumps(payload))


def test_unknown_fields_are_ignored() -> None:
    payload = json.loads(encode(raw())) | {"added_by_a_newer_producer": [1, 2]}
    assert decode(RawItem, json.dumps(payload)) == raw()


def test_other_schema_version_is_one_typed_error() -> None:
    payload = json.loads(encode(raw())) | {"schema_version": 2}
    with pytest.raises(SchemaError, match="unsupported schema_version") as err:
        decode(RawItem, json.dumps(payload).encode())
    assert err.value.payload == json.dumps(payload).encode()


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"\x00\xff not json", "not valid JSON"),
        (b"[]", "RawItem"),
        (b'{"schema_version": 1, "id": "x"}', "RawItem.source"),
        (
            json.dumps(json.loads(encode(raw())) | {"kind": "tweet"}).encode(),
            "RawItem.kind",
        ),
    ],
)
def test_invalid_messages_raise_schema_error_with_reason(payload: bytes, reason: str) -> None:
    with pytest.raises(SchemaError) as err:
        decode(RawItem, payload)
    assert reason in err.value.reason
    assert err.value.payload == payload


def test_scored_sentiment_label_is_closed_set() -> None:
    payload = json.loads(encode(scored()))
    payload["sentiment"]["label"] = "bearish"
    with pytest.raises(SchemaError, match=r"sentiment\.label"):
        decode(ScoredItem, json.dumps(payload))


def test_item_id_is_stable_and_source_scoped() -> None:
    assert make_item_id("cnbc", "guid-1") == make_item_id("cnbc", "guid-1")
    assert make_item_id("cnbc", "guid-1") != make_item_id("wsj", "guid-1")
    assert len(make_item_id("cnbc", "guid-1")) == 32
