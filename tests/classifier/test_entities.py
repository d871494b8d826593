import pytest

from classifier.entities import TickerTagger


@pytest.fixture(scope="module")
def tagger() -> TickerTagger:
    return TickerTagger()


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("$AAPL $msft rally into the close", ["AAPL", "MSFT"]),
        ("Tesla (NASDAQ: TSLA) recalls 2 million cars", ["TSLA"]),
        ("Shares of Berkshire (NYSE: BRK.B) edge higher", ["BRK.B"]),
        ("Apple and Microsoft lead the Nasdaq higher", ["AAPL", "MSFT"]),
        ("Alphabet slips as Google faces antitrust ruling", ["GOOGL"]),
        ("JPMorgan Chase beats estimates", ["JPM"]),
        ("Target misses estimates; all eyes on IT spending", []),
        ("It is a good day for all of us", []),
        ("apple pie prices rise at the state fair", []),
        ("Prices paid $5 for a coffee", []),
    ],
)
def test_tags(tagger: TickerTagger, title: str, expected: list[str]) -> None:
    assert tagger.tag(title) == expected


def test_source_symbols_are_kept(tagger: TickerTagger) -> None:
    assert tagger.tag("Quarterly results", "", ["nvda", "$AMD"]) == ["AMD", "NVDA"]


def test_precision_on_hand_checked_real_headlines(tagger: TickerTagger) -> None:
    """Hand-checked sample of 131 real headlines and tweets (tests/classifier/data)."""
    from pathlib import Path

    rows = [
        line.split("\t")
        for line in (Path(__file__).parent / "data" / "ticker_sample.tsv").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    proposed = correct = 0
    for _sample, gold, text in rows:
        predicted = set(tagger.tag(text))
        proposed += len(predicted)
        correct += len(predicted & set(filter(None, gold.split(","))))
    precision = correct / proposed
    print(f"ticker tagging precision: {correct}/{proposed} = {precision:.3f} on {len(rows)} texts")
    assert precision >= 0.97
