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


def _public(tmp_path: Path) -> tuple[Path, Path]:
    """Tiny tweet CSVs: 60 sentiment and 60 topic rows."""
    sentiment = tmp_path / "sent.csv"
    sentiment.write_text(
        "text,label\n" + "".join(f"Stock {i} moves today,{i % 3}\n" for i in range(60))
    )
    topic = tmp_path / "topic.csv"
    topic.write_text("text,label\n" + "".join(f"Topic headline {i},{i % 20}\n" for i in range(60)))
    return sentiment, topic


def _team(tmp_path: Path, texts: list[str]) -> Path:
    from classifier.training.labelset import Label, write_version

    store = tmp_path / "labels"
    write_version(
        store,
        [
            Label(f"id{i}", text, ("negative", "positive")[i % 2], "Macro" if i % 3 else None)
            for i, text in enumerate(texts)
        ],
    )
    return store


def test_team_labels_never_touch_the_public_dev_split(tmp_path: Path) -> None:
    from classifier.training.config import TrainConfig
    from classifier.training.data import held_back, load_data

    sentiment, topic = _public(tmp_path)
    plain = load_data(TrainConfig(sentiment, topic, tmp_path / "out", dev_fraction=0.3))
    public_dev = [e.text for e in plain.dev]
    team_texts = [f"Team note {i} on margins" for i in range(80)] + public_dev[:3]
    store = _team(tmp_path, team_texts)
    config = TrainConfig(
        sentiment, topic, tmp_path / "out", dev_fraction=0.3, extra_data=[f"labels:{store}"],
        labels_weight=3.0,
    )  # fmt: skip
    data = load_data(config)
    assert [(e.text, e.label, e.task) for e in data.dev] == [
        (e.text, e.label, e.task) for e in plain.dev
    ], "the public dev split is the same with labels"
    team_train = [e for e in data.train if e.source == f"labels:{store}"]
    assert team_train and all(e.weight == 3.0 for e in team_train)
    assert all(e.weight == 1.0 for e in data.train if not e.source.startswith("labels:"))
    trained = {normalise(e.text) for e in data.train}
    assert data.held_back and not trained & {normalise(e.text) for e in data.held_back}
    assert all(held_back(e.text, 0.2) for e in data.held_back)
    assert not trained & {normalise(t) for t in public_dev[:3]}, "public dev texts not trained"
    assert {e.task for e in team_train} == {"sentiment", "topic"}, "either head, or both"
    entry = data.sources[f"labels:{store}"]
    assert entry["licence"] == "team-owned" and not entry["non_commercial"]
    assert sum(entry["train"].values()) == len(team_train)
    assert sum(entry["held_back"].values()) == len(data.held_back)
    assert data.sources["tweets-sentiment"]["dev"]["sentiment"] == sum(
        e.task == "sentiment" for e in data.dev
    )
    more = _team(tmp_path / "more", [*team_texts, *(f"Later label {i}" for i in range(40))])
    grown = load_data(TrainConfig(**{**vars(config), "extra_data": [f"labels:{more}"]}))
    assert {e.text for e in data.held_back} <= {e.text for e in grown.held_back}, "stable"


def test_replay_samples_training_rows_only(tmp_path: Path) -> None:
    from classifier.training.config import TrainConfig
    from classifier.training.data import load_data

    sentiment, topic = _public(tmp_path)
    full = load_data(TrainConfig(sentiment, topic, tmp_path / "out"))
    replayed = load_data(TrainConfig(sentiment, topic, tmp_path / "out", replay=10))
    assert replayed.dev == full.dev
    assert sum(e.task == "sentiment" for e in replayed.train) == 10
    assert sum(e.task == "topic" for e in replayed.train) == 10
    with pytest.raises(ValueError, match="fpb:PATH or labels:PATH"):
        load_data(TrainConfig(sentiment, topic, tmp_path / "out", extra_data=["csv:x"]))
