import csv
import io
import json
from pathlib import Path

import pytest

from classifier import labels
from classifier.training.label_files import (
    Row,
    label_studio_config,
    label_studio_tasks,
    read_import,
    review_csv,
    safe_cell,
    unsafe_cell,
    validate,
)
from classifier.training.label_sources import Offered
from classifier.training.labelset import LabelError
from classifier.training.selection import Candidate


def offer(ident: str, text: str) -> Offered:
    return Offered(
        Candidate(ident, text, "rss", ("ticker:AAPL",),
                  {"negative": 0.45, "neutral": 0.40, "positive": 0.15},
                  {"Earnings": 0.6, "Macro": 0.4}),
        "negative", "Earnings",
    )  # fmt: skip


def test_formula_cells_are_neutralised_and_restored() -> None:
    for bad in ('=HYPERLINK("x")', "+1", "-2", "@SUM(A1)", "\tx", "\rx"):
        assert safe_cell(bad) == "'" + bad
        assert unsafe_cell(safe_cell(bad)) == bad
    assert safe_cell("Apple up") == "Apple up"
    assert unsafe_cell("'quoted on purpose") == "'quoted on purpose"


def test_review_csv_quotes_newlines_and_commas() -> None:
    text = review_csv([offer("a1", 'Apple, "up"\nsecond line'), offer("a2", "=cmd|' /C calc'!A0")])
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0] == [
        "id",
        "text",
        "sentiment",
        "topic",
        "model_sentiment",
        "model_topic",
        "margin",
    ]
    assert rows[1] == ["a1", 'Apple, "up"\nsecond line', "", "", "negative", "Earnings", "0.050"]
    assert rows[2][1].startswith("'=")
    assert text.endswith("\r\n")


def test_label_studio_tasks_and_config_agree() -> None:
    (task,) = label_studio_tasks([offer("a1", "Apple up")], model="m@1")
    assert task["data"] == {"id": "a1", "text": "Apple up", "source": "rss"}
    result = task["predictions"][0]["result"]
    assert {r["from_name"]: r["value"]["choices"] for r in result} == {
        "sentiment": ["negative"],
        "topic": ["Earnings"],
    }
    config = label_studio_config()
    assert '<Choices name="sentiment" toName="text"' in config
    assert '<Choice value="M&amp;A | Investments"/>' in config  # escaped XML
    assert config.count("<Choice ") == len(labels.SENTIMENT) + len(labels.TOPICS)


def test_csv_import_round_trip_with_bom_and_skipped_rows(tmp_path: Path) -> None:
    path = tmp_path / "l.csv"
    path.write_text(
        "id,text,sentiment,topic,model_sentiment,model_topic,margin\r\n"
        'a,"multi\nline",NEGATIVE,,neutral,Macro,0.1\r\n'
        "b,x,,,neutral,Macro,0.1\r\n"
        "c,'=1+1,,macro,neutral,Macro,0.1\r\n",
        encoding="utf-8-sig",
    )
    parsed = read_import(path)
    assert parsed.unlabelled == 1
    assert [(r.where, r.id) for r in parsed.rows] == [("row 2", "a"), ("row 4", "c")]
    got = validate(path, parsed.rows, "ana", "2026-12-02T00:00:00Z")
    assert [(lb.id, lb.sentiment, lb.topic, lb.labelled_by) for lb in got] == [
        ("a", "negative", None, "ana"),
        ("c", None, "Macro", "ana"),
    ]
    assert got[1].text == "=1+1"


def test_validation_lists_every_bad_row_with_valid_names(tmp_path: Path) -> None:
    rows = [
        Row("row 2", "a", "", "bullish", None),
        Row("row 3", "b", "", None, "Tech"),
        Row("row 4", "", "", "positive", None),
        Row("row 5", "d", "", "positive", None),
        Row("row 6", "d", "", "negative", None),
        Row("row 7", "e", "", "positive", None),
        Row("row 8", "e", "", "Positive", None),  # same label twice: fine
    ]
    with pytest.raises(LabelError) as err:
        validate(tmp_path / "f.csv", rows, "ana", "t")
    message = str(err.value)
    assert "4 bad rows, nothing imported" in message
    assert "row 2 (a): sentiment 'bullish' is not one of: negative, neutral, positive" in message
    assert "row 3 (b): topic 'Tech' is not one of: Analyst Update" in message
    assert "row 4: no id" in message
    assert "row 6 (d): labelled differently in row 5" in message


def test_label_studio_export_is_read(tmp_path: Path) -> None:
    export = [
        {
            "id": 1,
            "data": {"id": "a", "text": "Apple up"},
            "annotations": [
                {
                    "was_cancelled": False,
                    "completed_by": {"email": "ana@desk"},
                    "result": [
                        {
                            "from_name": "sentiment",
                            "type": "choices",
                            "value": {"choices": ["positive"]},
                        },
                        {
                            "from_name": "topic",
                            "type": "choices",
                            "value": {"choices": ["Earnings"]},
                        },
                    ],
                },
            ],
        },
        {
            "id": 2,
            "data": {"id": "b", "text": "x"},
            "annotations": [{"was_cancelled": True, "result": []}],
        },
        {"id": 3, "data": {"id": "c", "text": "y"}, "annotations": []},
    ]
    path = tmp_path / "export.json"
    path.write_text(json.dumps(export))
    parsed = read_import(path)
    assert parsed.unlabelled == 2
    (row,) = parsed.rows
    assert (row.where, row.id, row.sentiment, row.topic, row.labelled_by) == (
        "task 1",
        "a",
        "positive",
        "Earnings",
        "ana@desk",
    )
    (path := tmp_path / "bad.json").write_text("{}")
    with pytest.raises(LabelError, match="a list of tasks"):
        read_import(path)
