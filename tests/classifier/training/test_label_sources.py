from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from classifier.training.label_sources import (
    AlertWindow,
    SourceError,
    alert_first,
    in_range,
    key_query,
    matches,
    offered,
    read_jsonl,
)
from finsent.schemas import ScoredProgress, encode
from tests.builders import scored_item

T0 = datetime(2026, 12, 1, 12, tzinfo=UTC)


def test_jsonl_items_become_offers_and_markers_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "scored.jsonl"
    marker = ScoredProgress(raw_partitions=1, busy=[], idle=[0], sent_at=T0)
    path.write_bytes(encode(scored_item(1, T0, "AAPL")) + b"\n\n" + encode(marker) + b"\n")
    (one,) = list(read_jsonl([path]))
    assert one.candidate.id == "item-1"
    assert one.candidate.keys == ("ticker:AAPL", "topic:Earnings")
    assert one.candidate.text == "AAPL headline 1"
    assert (one.model_sentiment, one.model_topic, one.published_at) == ("negative", "Earnings", T0)
    path.write_text('{"id": "x"}\n')
    with pytest.raises(SourceError, match=r"scored\.jsonl:1: ScoredItem"):
        list(read_jsonl([path]))


def test_keys_and_ranges() -> None:
    item = offered(scored_item(1, T0, "AAPL").model_dump(mode="json"))
    assert matches(item, [])
    assert matches(item, ["ticker:TSLA", "ticker:AAPL"])
    assert matches(item, ["source:wire"]) and matches(item, ["global:all"])
    assert not matches(item, ["topic:Macro"])
    assert key_query("topic:Macro") == {"term": {"topic.label": "Macro"}}
    assert key_query("global:all") is None
    with pytest.raises(SourceError, match="expected ticker:NAME"):
        key_query("AAPL")
    assert in_range(item, T0, T0) and not in_range(item, T0 + timedelta(seconds=1), None)


def test_an_alerts_samples_lead_then_its_window() -> None:
    items = [
        scored_item(i, T0 + timedelta(minutes=i), "AAPL" if i < 4 else "TSLA") for i in range(6)
    ]
    offers = [offered(i.model_dump(mode="json")) for i in items]
    window = AlertWindow("a1", "ticker:AAPL", T0 + timedelta(minutes=1), T0 + timedelta(minutes=5),
                         ("item-3", "item-gone"))  # fmt: skip
    assert alert_first(window, offers) == ["item-3", "item-1", "item-2"]
