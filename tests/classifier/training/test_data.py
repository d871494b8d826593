from pathlib import Path

import pytest

from classifier import labels
from classifier.training.data import (
    DataError,
    Example,
    deduplicate,
    normalise,
    read_csv,
    read_phrasebank,
    split,
)
from finsent.datadir import data_dir


def test_real_tweet_csvs_parse_with_multiline_fields() -> None:
    sentiment = read_csv(
        data_dir() / "twitter_financial_news_sentiment" / "sent_train.csv",
        "sentiment",
        labels.TWEET_SENTIMENT_IDS,
    )
    assert len(sentiment) == 9543
    assert {e.label for e in sentiment} == {"negative", "neutral", "positive"}
    topic = read_csv(
        data_dir() / "twitter_financial_news_topic" / "topic_train.csv", "topic", labels.TOPICS
    )
    assert len(topic) == 16990
    assert {e.label for e in topic} == set(labels.TOPICS)
    assert any("\n" in e.text for e in sentiment + topic), "quoted newlines kept inside a field"


def test_phrasebank_latin1() -> None:
    rows = read_phrasebank(data_dir() / "financial_phrasebank" / "Sentences_AllAgree.txt")
    assert len(rows) > 1000
    assert {r.label for r in rows} == {"negative", "neutral", "positive"}


def test_label_names_and_bad_labels(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text('text,label\n"a, b",negative\nc,1\n')
    rows = read_csv(path, "sentiment", {0: "negative", 1: "positive"})
    assert [(r.text, r.label) for r in rows] == [("a, b", "negative"), ("c", "positive")]
    path.write_text("text,label\nx,7\n")
    with pytest.raises(DataError, match=r"x\.csv:2: label '7'"):
        read_csv(path, "sentiment", {0: "negative"})
    path.write_text("sentence,y\nx,1\n")
    with pytest.raises(DataError, match="header"):
        read_csv(path, "sentiment", {0: "negative"})


def test_parse_label_map() -> None:
    assert labels.parse_label_map("0=negative, 1=positive,2=neutral") == {
        0: "negative", 1: "positive", 2: "neutral",
    }  # fmt: skip
    with pytest.raises(ValueError, match="ID=NAME"):
        labels.parse_label_map("negative")


def test_normalise_strips_urls_and_case() -> None:
    assert normalise("$AAPL Up 5%  https://t.co/abc") == normalise("$aapl up 5% https://t.co/xyz")


def test_dedupe_keeps_first_and_drops_conflicts() -> None:
    rows = [
        Example("Stocks up https://t.co/1", "positive", "sentiment"),
        Example("stocks up https://t.co/2", "positive", "sentiment"),
        Example("Oil down", "negative", "sentiment"),
        Example("oil down", "positive", "sentiment"),
        Example("Oil down", "Energy | Oil", "topic"),
    ]
    kept = deduplicate(rows)
    assert [(e.text, e.task) for e in kept] == [
        ("Stocks up https://t.co/1", "sentiment"),
        ("Oil down", "topic"),
    ]


def test_split_is_deterministic_and_never_leaks_reposts() -> None:
    rows = [
        Example(f"Headline {i % 300} https://t.co/{i}", "neutral", "sentiment") for i in range(900)
    ]
    train, dev = split(rows, 0.2, seed=13)
    assert (train, dev) == split(list(reversed(rows))[::-1], 0.2, seed=13)
    assert {normalise(e.text) for e in train}.isdisjoint({normalise(e.text) for e in dev})
    assert 0.1 < len(dev) / len(rows) < 0.3
