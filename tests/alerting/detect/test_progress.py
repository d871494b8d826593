"""The low watermark of a keyed partition over the scored partitions that feed it."""

from datetime import UTC, datetime, timedelta

from alerting.detect.progress import InputProgress
from finsent.schemas import KeyedItem, KeyedWatermark

T0 = datetime(2026, 3, 2, tzinfo=UTC)


def entry(origin: int, minutes: int) -> KeyedItem:
    return KeyedItem(key="ticker:X", item_id="i", story_id="s", origin=origin,
                     published_at=T0 + timedelta(minutes=minutes), negative=False, score=0.1)  # fmt: skip


def test_low_watermark_waits_for_every_busy_partition() -> None:
    progress = InputProgress(origins=3)
    progress.saw(entry(0, 30))
    progress.saw(entry(1, 10))
    assert progress.low() is None, "partition 2 not heard from"
    progress.marker(KeyedWatermark(busy=[2], idle=[], progress=T0 + timedelta(minutes=5)))
    assert progress.low() == T0 + timedelta(minutes=5), "the slowest partition holds it"
    progress.marker(KeyedWatermark(busy=[1, 2], idle=[], progress=T0 + timedelta(minutes=20)))
    assert progress.low() == T0 + timedelta(minutes=20)


def test_a_router_that_went_idle_still_moves_the_watermark() -> None:
    progress = InputProgress(origins=2)
    progress.saw(entry(0, 3))  # the last entry this keyed partition got
    progress.marker(KeyedWatermark(busy=[], idle=[0, 1], progress=T0 + timedelta(minutes=50)))
    assert progress.low() == T0 + timedelta(minutes=50), "everything routed up to 50 min"
    progress.saw(entry(1, 55))
    assert progress.low() == T0 + timedelta(minutes=55), "busy again; idle 0 holds nothing"
    restored = InputProgress(origins=2)
    restored.restore(progress.to_json())
    assert restored.low() == progress.low()
