import json
from pathlib import Path

import pytest

from classifier import labels
from classifier.training.labelset import (
    Label,
    LabelError,
    canonical,
    check,
    manifest,
    read_labels,
    versions,
    write_version,
)


def test_canonical_names_are_case_insensitive_exact_matches() -> None:
    assert canonical("NEGATIVE", labels.SENTIMENT) == "negative"
    assert canonical("  neutral ", labels.SENTIMENT) == "neutral"
    assert canonical("", labels.SENTIMENT) is None
    assert canonical(None, labels.TOPICS) is None
    topic = labels.TOPICS[3]
    assert canonical(topic.upper(), labels.TOPICS) == topic
    with pytest.raises(ValueError, match="not one of: negative, neutral, positive"):
        canonical("neg", labels.SENTIMENT)


def test_check_refuses_a_label_with_neither_head() -> None:
    with pytest.raises(ValueError, match="neither"):
        check(Label("a", "text", None, " "))
    assert check(Label("a", "text", "Positive", None)).sentiment == "positive"


def test_versions_are_numbered_and_a_later_version_wins(tmp_path: Path) -> None:
    store = tmp_path / "labels"
    first = write_version(
        store,
        [
            Label("a", "Apple up", "positive", None, "rss"),
            Label("b", "Fed", None, labels.TOPICS[0]),
        ],
        origin="one.csv",
    )
    second = write_version(store, [Label("a", "Apple up", "negative", None, labelled_by="ana")])
    assert [first.name, second.name] == ["labels-0001.jsonl", "labels-0002.jsonl"]
    assert versions(store) == [first, second]
    got = read_labels(store)
    assert [lb.id for lb in got] == ["a", "b"]  # first-labelled order kept
    assert got[0] == Label("a", "Apple up", "negative", None, labelled_by="ana")
    assert got[1].topic == labels.TOPICS[0]
    entries = manifest(store)["versions"]
    assert [(e["file"], e["labels"]) for e in entries] == [
        ("labels-0001.jsonl", 2),
        ("labels-0002.jsonl", 1),
    ]
    assert entries[0]["origin"] == "one.csv"
    assert not list(store.glob(".labels-*"))  # no temporary files left behind
    # one version file reads on its own too
    assert [lb.sentiment for lb in read_labels(first)] == ["positive", None]


def test_version_numbers_sort_numerically_past_9999(tmp_path: Path) -> None:
    (tmp_path / "labels-9999.jsonl").write_text(
        json.dumps({"id": "x", "text": "", "sentiment": "neutral"}) + "\n", encoding="utf-8"
    )
    path = write_version(tmp_path, [Label("x", "", "positive", None)])
    assert path.name == "labels-10000.jsonl"
    assert read_labels(tmp_path)[0].sentiment == "positive"


def test_nothing_is_written_when_one_label_is_bad(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not one of"):
        write_version(
            tmp_path / "s", [Label("a", "", "positive", None), Label("b", "", "bad", None)]
        )
    assert versions(tmp_path / "s") == []
    with pytest.raises(LabelError):
        write_version(tmp_path / "s", [])


def test_a_bad_stored_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text(
        json.dumps({"id": "a", "text": "", "sentiment": "positive"})
        + "\n\n"
        + json.dumps({"id": "b", "text": "", "topic": "Nope"})
        + "\n",
        encoding="utf-8",
    )
    with pytest.raises(LabelError, match=r"x\.jsonl:3: 'Nope' is not one of"):
        read_labels(path)
    with pytest.raises(LabelError, match="no such"):
        read_labels(tmp_path / "missing")
    (tmp_path / "empty-store").mkdir()
    assert read_labels(tmp_path / "empty-store") == []
