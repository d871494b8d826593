"""The files analysts label: a review CSV and a Label Studio import, and reading them back.

The CSV is UTF-8 with a byte-order mark (Excel then reads it as UTF-8), every field quoted
where needed (newlines and commas stay inside their cell), and any cell that a spreadsheet
would run as a formula (starting with ``= + - @``, a tab or a carriage return) prefixed with
``'``; that prefix is removed again on import. ``sentiment`` and ``topic`` are left empty
for the analyst; the ``model_*`` columns say what the model thought.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

from classifier import labels as label_spaces
from classifier.training.label_sources import Offered
from classifier.training.labelset import Label, LabelError, canonical
from classifier.training.selection import margin

COLUMNS = ("id", "text", "sentiment", "topic", "model_sentiment", "model_topic", "margin")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
MAX_ERRORS = 50
"""Errors listed by an import (the count of the rest is given)."""


def safe_cell(value: str) -> str:
    """A cell a spreadsheet shows as text, never evaluates (OWASP's CSV injection advice)."""
    return "'" + value if value.startswith(FORMULA_START) else value


def unsafe_cell(value: str) -> str:
    """``safe_cell`` undone."""
    return value[1:] if value.startswith("'") and value[1:].startswith(FORMULA_START) else value


def review_csv(offers: Sequence[Offered]) -> str:
    """The review CSV's text (without the byte-order mark)."""
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for offer in offers:
        c = offer.candidate
        writer.writerow([safe_cell(c.id), safe_cell(c.text), "", "",
                         safe_cell(offer.model_sentiment), safe_cell(offer.model_topic),
                         f"{margin(c):.3f}"])  # fmt: skip
    return out.getvalue()


def label_studio_tasks(offers: Sequence[Offered], model: str = "finsent") -> list[dict[str, Any]]:
    """Label Studio tasks: ``data`` {id, text}, the model's verdicts as pre-annotations."""
    tasks = []
    for offer in offers:
        c = offer.candidate
        result = [
            {"from_name": head, "to_name": "text", "type": "choices",
             "value": {"choices": [label]}}
            for head, label in (("sentiment", offer.model_sentiment),
                                ("topic", offer.model_topic))
            if label
        ]  # fmt: skip
        tasks.append(
            {
                "data": {"id": c.id, "text": c.text, "source": c.source},
                "predictions": [
                    {"model_version": model, "score": round(1 - margin(c), 3), "result": result}
                ],
            }
        )
    return tasks


def label_studio_config() -> str:
    """The Label Studio labelling interface matching the tasks: one choice per head."""

    def choices(name: str, names: Sequence[str]) -> str:
        options = "".join(f"    <Choice value={quoteattr(n)}/>\n" for n in names)
        return (f'  <Choices name="{name}" toName="text" choice="single" showInLine="true">\n'
                f"{options}  </Choices>\n")  # fmt: skip

    return (
        '<View>\n  <Text name="text" value="$text"/>\n'
        + '  <Header value="Sentiment"/>\n'
        + choices("sentiment", label_spaces.SENTIMENT)
        + '  <Header value="Topic"/>\n'
        + choices("topic", label_spaces.TOPICS)
        + "</View>\n"
    )


@dataclass(frozen=True)
class Row:
    """One labelled row of an imported file; ``where`` is how the analyst finds it."""

    where: str  # "row 7" (the spreadsheet row, header = row 1) or "task 3"
    id: str
    text: str
    sentiment: str | None
    topic: str | None
    labelled_by: str | None = None


@dataclass(frozen=True)
class Parsed:
    """Rows of an import file and how many carried no label at all."""

    rows: list[Row]
    unlabelled: int


def read_import(path: Path) -> Parsed:
    """The review CSV, or a Label Studio JSON export (chosen by the ``.json`` suffix)."""
    try:
        raw = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise LabelError(f"{path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise LabelError(f"{path}: not UTF-8 text (save the sheet as CSV UTF-8)") from None
    return _read_label_studio(path, raw) if path.suffix.lower() == ".json" else _read_csv(path, raw)


def _read_csv(path: Path, raw: str) -> Parsed:
    reader = csv.DictReader(io.StringIO(raw, newline=""))
    missing = {"id", "sentiment", "topic"} - set(reader.fieldnames or [])
    if missing:
        raise LabelError(f"{path}: header lacks {', '.join(sorted(missing))} (expected "
                         f"{','.join(COLUMNS)})")  # fmt: skip
    rows, unlabelled = [], 0
    for number, record in enumerate(reader, start=2):
        sentiment = (record.get("sentiment") or "").strip()
        topic = (record.get("topic") or "").strip()
        if not sentiment and not topic:
            unlabelled += 1
            continue
        rows.append(Row(f"row {number}", unsafe_cell((record.get("id") or "").strip()),
                        unsafe_cell(record.get("text") or ""), sentiment or None,
                        topic or None))  # fmt: skip
    return Parsed(rows, unlabelled)


def _read_label_studio(path: Path, raw: str) -> Parsed:
    try:
        tasks = json.loads(raw)
    except ValueError as exc:
        raise LabelError(f"{path}: not JSON: {exc}") from None
    if not isinstance(tasks, list):
        raise LabelError(f"{path}: expected Label Studio's JSON export (a list of tasks)")
    rows, unlabelled = [], 0
    for number, task in enumerate(tasks, start=1):
        if not isinstance(task, dict):
            raise LabelError(f"{path}: task {number} is not a JSON object")
        data = task.get("data") or {}
        done = [a for a in (task.get("annotations") or []) if not a.get("was_cancelled")]
        if not done:
            unlabelled += 1
            continue
        latest = done[-1]
        chosen: dict[str, str | None] = {"sentiment": None, "topic": None}
        for result in latest.get("result") or []:
            picked = (result.get("value") or {}).get("choices") or []
            if result.get("from_name") in chosen and picked:
                chosen[str(result["from_name"])] = str(picked[0])
        if chosen["sentiment"] is None and chosen["topic"] is None:
            unlabelled += 1
            continue
        by = latest.get("completed_by")
        email = by.get("email") if isinstance(by, dict) else None
        rows.append(Row(f"task {number}", str(data.get("id") or ""), str(data.get("text") or ""),
                        chosen["sentiment"], chosen["topic"], email))  # fmt: skip
    return Parsed(rows, unlabelled)


def validate(
    path: Path, rows: Sequence[Row], by: str | None, at: str, sources: dict[str, str] | None = None
) -> list[Label]:
    """Every row as a label, or ``LabelError`` listing every bad row (nothing half-accepted).

    Names are matched case-insensitively against the model's label spaces; one id labelled
    twice the same way is kept once, differently is an error naming both rows.
    """
    errors: list[str] = []
    accepted: dict[str, tuple[Row, Label]] = {}
    for row in rows:
        if not row.id:
            errors.append(f"{row.where}: no id")
            continue
        try:
            sentiment = canonical(row.sentiment, label_spaces.SENTIMENT)
        except ValueError as exc:
            errors.append(f"{row.where} ({row.id}): sentiment {exc}")
            continue
        try:
            topic = canonical(row.topic, label_spaces.TOPICS)
        except ValueError as exc:
            errors.append(f"{row.where} ({row.id}): topic {exc}")
            continue
        label = Label(row.id, row.text, sentiment, topic, (sources or {}).get(row.id),
                      row.labelled_by or by, at)  # fmt: skip
        earlier = accepted.get(row.id)
        if earlier is None:
            accepted[row.id] = (row, label)
        elif (earlier[1].sentiment, earlier[1].topic) != (sentiment, topic):
            errors.append(f"{row.where} ({row.id}): labelled differently in {earlier[0].where}")
    if errors:
        shown = errors[:MAX_ERRORS]
        more = f"\n  ... and {len(errors) - MAX_ERRORS} more" if len(errors) > MAX_ERRORS else ""
        raise LabelError(f"{path}: {len(errors)} bad rows, nothing imported:\n  "
                         + "\n  ".join(shown) + more)  # fmt: skip
    return [label for _, label in accepted.values()]
