import math

from classifier.training.selection import (
    Candidate,
    head_entropy,
    head_margin,
    margin,
    select,
    text_key,
    uncertainty,
)

SURE = {"negative": 0.98, "neutral": 0.01, "positive": 0.01}
TOPIC_SURE = {"Macro": 0.97, "Earnings": 0.02, "Stock Commentary": 0.01}


def cand(
    ident: str,
    *,
    text: str | None = None,
    source: str = "rss",
    keys: tuple[str, ...] = (),
    sentiment: dict[str, float] | None = None,
    topic: dict[str, float] | None = None,
    story: str | None = None,
) -> Candidate:
    return Candidate(
        ident,
        text or f"story number {ident}",
        source,
        keys,
        sentiment or SURE,
        topic or TOPIC_SURE,
        story,
    )


def unsure(p: float) -> dict[str, float]:
    """Sentiment whose top-two margin is 1 - 2p-ish: larger p = more uncertain."""
    return {"negative": p, "neutral": 1 - p - 0.01, "positive": 0.01}


def test_margin_and_entropy_of_a_head() -> None:
    assert math.isclose(head_margin({"a": 0.6, "b": 0.3, "c": 0.1}), 0.3)
    assert head_margin({"a": 1.0}) == 1.0
    assert math.isclose(head_entropy({"a": 0.5, "b": 0.5}), 1.0)
    assert head_entropy({"a": 1.0, "b": 0.0}) == 0.0


def test_either_head_makes_an_item_uncertain() -> None:
    sure = cand("a")
    sentiment_unsure = cand("b", sentiment={"negative": 0.4, "neutral": 0.35, "positive": 0.25})
    topic_unsure = cand("c", topic={"Macro": 0.5, "Earnings": 0.49, "Stock Commentary": 0.01})
    assert uncertainty(sure) < 0.2
    assert uncertainty(sentiment_unsure) > 0.9
    assert uncertainty(topic_unsure) > 0.9
    assert math.isclose(margin(topic_unsure), 0.01, abs_tol=1e-9)


def test_most_uncertain_first() -> None:
    items = [cand(str(i), sentiment=unsure(0.3 + i * 0.04), source=f"s{i}") for i in range(5)]
    assert [c.id for c in select(items, 3)] == ["4", "3", "2"]


def test_no_source_dominates() -> None:
    noisy = [cand(f"n{i}", source="reddit", sentiment=unsure(0.49)) for i in range(10)]
    calm = [cand(f"c{i}", source="rss", sentiment=unsure(0.40)) for i in range(10)]
    picked = select(noisy + calm, 10)
    counts = {s: sum(c.source == s for c in picked) for s in ("reddit", "rss")}
    # ranked by uncertainty alone all ten would be reddit's; spread, each gets a fair share
    assert counts == {"reddit": 6, "rss": 4}
    assert picked[0].source == "reddit"  # the more uncertain one still leads


def test_no_key_dominates() -> None:
    aapl = [
        cand(f"a{i}", source=f"s{i}", keys=("ticker:AAPL",), sentiment=unsure(0.49))
        for i in range(6)
    ]
    tsla = [
        cand(f"t{i}", source=f"s{i}", keys=("ticker:TSLA",), sentiment=unsure(0.42))
        for i in range(6)
    ]
    picked = select(aapl + tsla, 6)
    assert sum("ticker:TSLA" in c.keys for c in picked) == 3


def test_near_duplicates_are_skipped() -> None:
    items = [
        cand("1", text="Apple beats estimates! https://x.co/1", sentiment=unsure(0.49)),
        cand("2", text="apple  beats estimates https://x.co/2", sentiment=unsure(0.48)),
        cand("3", text="Different text", story="s1", sentiment=unsure(0.47)),
        cand("4", text="Another different text", story="s1", sentiment=unsure(0.46)),
        cand("5", text="Fed holds rates", sentiment=unsure(0.30)),
        cand("1", text="the same id again", sentiment=unsure(0.49)),
    ]
    assert text_key("Apple beats estimates! https://x.co/1") == "apple beats estimates"
    assert [c.id for c in select(items, 10)] == ["1", "3", "5"]


def test_first_ids_lead_in_their_order_and_count_towards_n() -> None:
    items = [cand(str(i), sentiment=unsure(0.3 + i * 0.04), source=f"s{i}") for i in range(5)]
    assert [c.id for c in select(items, 3, first=["0", "missing", "1"])] == ["0", "1", "4"]
    assert [c.id for c in select(items, 1, first=["0", "1"])] == ["0"]
    # a set has no order: the leading ones go by uncertainty
    assert [c.id for c in select(items, 3, first={"0", "1"})] == ["1", "0", "4"]


def test_deterministic_and_bounded() -> None:
    items = [
        cand(
            f"{i:03d}",
            source=f"s{i % 3}",
            keys=(f"ticker:T{i % 4}",),
            sentiment=unsure(0.3 + (i % 7) / 40),
        )
        for i in range(60)
    ]
    one = [c.id for c in select(items, 20)]
    two = [c.id for c in select(list(reversed(items)), 20)]
    assert one == two
    assert len(one) == 20 == len(set(one))
    assert select(items, 0) == []
    assert len(select(items, 1000)) == 60
