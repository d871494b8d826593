"""Retry logic of the bulk sink, against a scripted client double (the real ES is in tests/integration)."""

from datetime import UTC, datetime
from typing import Any

from alerting.index.elasticsearch import ElasticsearchSink, index_name
from finsent.schemas import Prediction, ScoredItem, SentimentPrediction, make_item_id

T0 = datetime(2026, 3, 2, 23, 59, tzinfo=UTC)


def item(i: int) -> ScoredItem:
    return ScoredItem(
        id=make_item_id("s", str(i)), source="s", kind="news", title=f"t{i}", published_at=T0, fetched_at=T0,
        sentiment=SentimentPrediction(label="neutral", scores={"negative": 0.1, "neutral": 0.8, "positive": 0.1}),
        topic=Prediction(label="Markets", scores={"Markets": 1.0}), model="m@1", classified_at=T0,
    )  # fmt: skip


class ScriptedClient:
    """Answers each bulk call with the next scripted list of per-item statuses."""

    def __init__(self, script: list[list[int]]) -> None:
        self.script = script
        self.calls: list[list[str]] = []

    def bulk(self, operations: list[dict[str, Any]]) -> dict[str, Any]:
        ids = [op["index"]["_id"] for op in operations[::2]]
        self.calls.append(ids)
        statuses = self.script.pop(0)
        return {
            "items": [
                {"index": {"status": s, "error": {"reason": f"status {s}"} if s >= 300 else None}}
                for s in statuses
            ]
        }


def test_only_failed_items_are_retried_and_4xx_rejected() -> None:
    client = ScriptedClient([[201, 429, 400, 503], [200, 429], [200]])
    waits: list[float] = []
    sink = ElasticsearchSink(client, "finsent", on_wait=waits.append)  # type: ignore[arg-type]
    items = [item(i) for i in range(4)]
    for it in items:
        sink.add(it)
    result = sink.flush()
    assert client.calls == [[i.id for i in items], [items[1].id, items[3].id], [items[3].id]]
    assert result.indexed == 3
    assert [r.item.id for r in result.rejected] == [items[2].id]
    assert result.rejected[0].reason.startswith("400")
    assert waits == [0.5, 1.0], "429/5xx are backpressure: wait, then retry (never drop)"
    assert sink.buffer == []


def test_daily_index_by_publication_day() -> None:
    assert index_name("finsent", item(1)) == "finsent-items-2026.03.02"


def test_items_with_no_usable_publication_day_share_one_index() -> None:
    from datetime import UTC, datetime, timedelta

    from finsent import telemetry

    fetched = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    before = telemetry.MISDATED_ITEMS._value.get()
    names = set()
    for published in (datetime(1970, 1, 1, tzinfo=UTC), datetime(1999, 12, 31, tzinfo=UTC),
                      datetime(1, 1, 1, tzinfo=UTC), fetched - timedelta(days=31)):  # fmt: skip
        dated = item(1).model_copy(update={"published_at": published, "fetched_at": fetched})
        names.add(index_name("finsent", dated))
    assert names == {"finsent-items-misdated"}
    assert telemetry.MISDATED_ITEMS._value.get() == before + 4
    recent = item(1).model_copy(
        update={"published_at": fetched - timedelta(days=29), "fetched_at": fetched}
    )
    assert index_name("finsent", recent) == "finsent-items-2026.02.01"
