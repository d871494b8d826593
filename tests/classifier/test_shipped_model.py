"""The shipped default model, loaded offline, gets unambiguous real headlines right."""

from pathlib import Path

import pytest

from classifier.engine import Engine
from classifier.paths import SHIPPED
from classifier.quantize import activation_bits
from classifier.training.calibrate import AGREEMENT, TOLERANCE

HEADLINES = [
    # (headline, sentiment, topic or None)
    (
        "Tesla shares plunge 12% after deliveries miss estimates by a wide margin",
        "negative",
        "Stock Movement",
    ),
    ("Apple stock soars to a record high after blowout quarterly earnings", "positive", None),
    (
        "Fed raises interest rates by 75 basis points to fight inflation",
        None,
        "Fed | Central Banks",
    ),
    ("Oil prices jump as OPEC+ agrees to deeper output cuts", None, "Energy | Oil"),
    ("Coca-Cola declares quarterly dividend of $0.44 per share", "neutral", "Dividend"),
    (
        "Microsoft to acquire Activision Blizzard for $68.7 billion in cash",
        None,
        "M&A | Investments",
    ),
    ("Goldman Sachs downgrades Boeing to sell, cuts price target", "negative", "Analyst Update"),
    ("Gold climbs to a six-month high as the dollar weakens", None, "Gold | Metals | Materials"),
]


@pytest.fixture(scope="module", params=[False, "auto"], ids=["fp32", "auto"])
def engine(request: pytest.FixtureRequest) -> Engine:
    """fp32, and the default: int8 where this CPU runs it as the folder's record measured it."""
    return Engine.from_folder(SHIPPED, device="cpu", quantize_int8=request.param)


def test_folder_is_small_and_offline_loadable(engine: Engine) -> None:
    size = sum(p.stat().st_size for p in Path(SHIPPED).rglob("*") if p.is_file())
    assert size <= 10_000_000, f"{size} bytes"
    assert engine.spec.adapter == "delta"
    assert engine.spec.tag == "finsent-minilm@3"
    check = engine.spec.extra["int8"]  # smoothed int8, measured on the dev split
    assert check["within_tolerance"] and check["calibrated"]
    for task in ("sentiment", "topic"):
        assert check[task]["accuracy_drop"] <= TOLERANCE
        assert check[task]["label_agreement"] >= AGREEMENT
    auto = Engine.from_folder(SHIPPED, device="cpu", quantize_int8="auto")
    assert auto.int8 == (check["activation_bits"] == activation_bits())


@pytest.mark.parametrize(
    ("headline", "sentiment", "topic"), HEADLINES, ids=[h[0][:30] for h in HEADLINES]
)
def test_unambiguous_headlines(
    engine: Engine, headline: str, sentiment: str | None, topic: str | None
) -> None:
    (scores,) = engine.predict([headline])
    if sentiment:
        assert scores.sentiment_label == sentiment, scores.sentiment
    if topic:
        assert scores.topic_label == topic, sorted(scores.topic.items(), key=lambda kv: -kv[1])[:3]
