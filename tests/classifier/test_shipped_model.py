"""The shipped default model, loaded offline, gets unambiguous real headlines right."""

from pathlib import Path

import pytest

from classifier.engine import Engine
from classifier.paths import SHIPPED
from classifier.precision import AGREEMENT, TOLERANCE, cpu_features, passes, read_record

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


@pytest.fixture(scope="module", params=["fp32", "auto"])
def engine(request: pytest.FixtureRequest) -> Engine:
    """fp32, and the default: what the folder's record lets this CPU run (bf16 here)."""
    return Engine.from_folder(SHIPPED, device="cpu", precision=request.param)


def test_folder_is_small_and_offline_loadable(engine: Engine) -> None:
    size = sum(p.stat().st_size for p in Path(SHIPPED).rglob("*") if p.is_file())
    assert size <= 10_000_000, f"{size} bytes"
    assert engine.spec.adapter == "delta"
    assert engine.spec.tag == "finsent-minilm@3"
    check = read_record(engine.spec.extra)  # every mode, measured on the dev split
    assert check is not None and not check.get("legacy")
    assert set(check["modes"]) == {"bf16", "int8"} and check["modes"]["int8"]["calibrated"]
    bf16 = check["modes"]["bf16"]
    assert passes(bf16)
    for task in ("sentiment", "topic"):
        assert bf16[task]["accuracy_drop"] <= TOLERANCE
        assert bf16[task]["label_agreement"] >= AGREEMENT
    auto = Engine.from_folder(SHIPPED, device="cpu", precision="auto")
    if cpu_features().native_bf16:
        assert auto.precision == "bf16", auto.precision_reason


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
