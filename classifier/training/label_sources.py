"""Scored items offered for labelling: from Elasticsearch or from ScoredItem JSON lines.

Elasticsearch is read through the items alias (``{prefix}-items``) and, for
``--from-alert``, the alerts index; both with the plain client, so any machine with read
access can export. An alert's items are its evidence samples and every item of its key
published in its window.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any

from elasticsearch import Elasticsearch, NotFoundError, helpers

from classifier.training.selection import Candidate, uncertainty
from finsent.schemas import SchemaError, ScoredItem, decode

KEY_FIELDS = {"ticker": "tickers", "topic": "topic.label", "source": "source"}
"""Alert key kind -> the item field it is read from (``global:all`` matches every item)."""
ITEM_SOURCE = ["id", "source", "title", "text", "story_id", "tickers", "published_at",
               "sentiment", "topic", "model"]  # fmt: skip
"""The item fields an export reads."""


class SourceError(ValueError):
    """Items that cannot be read as asked; the message names the file, line or alert."""


@dataclass(frozen=True)
class Offered:
    """A candidate with what the review file shows beside it: the model's own verdicts."""

    candidate: Candidate
    model_sentiment: str
    model_topic: str
    published_at: datetime | None = None


@dataclass(frozen=True)
class AlertWindow:
    """What ``--from-alert`` needs of an alert event: its key, window and sample ids."""

    id: str
    key: str
    start: datetime
    end: datetime
    samples: tuple[str, ...]


def item_text(title: str, text: str) -> str:
    """What the model read (``classifier.consumer.item_text``): the title, then the body."""
    return ". ".join(part for part in (title.strip(), text.strip()) if part)


def offered(doc: dict[str, Any]) -> Offered:
    """An item document (or a ScoredItem's JSON form) as an offer."""
    sentiment = doc.get("sentiment") or {}
    topic = doc.get("topic") or {}
    tickers = sorted(set(doc.get("tickers") or []))
    keys = tuple(f"ticker:{t}" for t in tickers)
    if topic.get("label"):
        keys += (f"topic:{topic['label']}",)
    published = doc.get("published_at")
    return Offered(
        Candidate(
            id=str(doc["id"]),
            text=item_text(doc.get("title") or "", doc.get("text") or ""),
            source=str(doc.get("source") or ""),
            keys=keys,
            sentiment_scores=dict(sentiment.get("scores") or {}),
            topic_scores=dict(topic.get("scores") or {}),
            story_id=doc.get("story_id"),
        ),
        model_sentiment=str(sentiment.get("label") or ""),
        model_topic=str(topic.get("label") or ""),
        published_at=_utc(published) if isinstance(published, str) else None,
    )


def _utc(text: str) -> datetime:
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def matches(offer: Offered, keys: Sequence[str]) -> bool:
    """Whether the item counts for any of ``keys`` (no keys: every item)."""
    if not keys:
        return True
    own = {*offer.candidate.keys, f"source:{offer.candidate.source}", "global:all"}
    return any(key in own for key in keys)


def key_query(key: str) -> dict[str, Any] | None:
    """The filter of one alert key (None for ``global:all``); ``SourceError`` when unknown."""
    kind, sep, value = key.partition(":")
    if key == "global:all":
        return None
    if not sep or not value or kind not in KEY_FIELDS:
        kinds = ", ".join(f"{k}:NAME" for k in KEY_FIELDS)
        raise SourceError(f"key {key!r}: expected {kinds} or global:all")
    return {"term": {KEY_FIELDS[kind]: value}}


def read_jsonl(paths: Iterable[Path]) -> Iterator[Offered]:
    """ScoredItem JSON lines (progress markers and blank lines skipped)."""
    for path in paths:
        try:
            handle = path.open(encoding="utf-8")
        except OSError as exc:
            raise SourceError(f"{path}: {exc.strerror}") from None
        with handle:
            for line_number, line in enumerate(handle, start=1):
                if not line.strip() or _is_marker(line):
                    continue
                try:
                    item = decode(ScoredItem, line)
                except SchemaError as exc:
                    raise SourceError(f"{path}:{line_number}: {exc.reason}") from None
                yield offered(item.model_dump(mode="json"))


def _is_marker(line: str) -> bool:
    """A progress marker recorded with the items (``ScoredProgress``, ``KeyedWatermark``)."""
    try:
        record = json.loads(line)
    except ValueError:
        return False
    return isinstance(record, dict) and "busy" in record and "id" not in record


def in_range(offer: Offered, since: datetime | None, until: datetime | None) -> bool:
    """Whether the item was published in [since, until] (an open end matches everything)."""
    at = offer.published_at
    if at is None:
        return since is None and until is None
    return (since is None or at >= since) and (until is None or at <= until)


def search_items(
    es: Elasticsearch,
    prefix: str,
    since: datetime,
    until: datetime,
    keys: Sequence[str] = (),
    max_items: int = 50_000,
    ids: Sequence[str] = (),
) -> list[Offered]:
    """The newest ``max_items`` items published in the range and counting for any key.

    ``ids`` are read as well, whenever they were published (an alert's samples).
    """
    index = f"{prefix}-items"
    if not es.indices.exists(index=index):
        return []
    filters: list[dict[str, Any]] = [
        {"range": {"published_at": {"gte": since.isoformat(), "lte": until.isoformat()}}}
    ]
    by_key = [q for q in (key_query(k) for k in keys) if q is not None]
    if by_key and len(by_key) == len(keys):
        filters.append({"bool": {"should": by_key, "minimum_should_match": 1}})
    query: dict[str, Any] = {"bool": {"filter": filters}}
    if ids:
        query = {"bool": {"should": [query, {"ids": {"values": list(ids)}}],
                          "minimum_should_match": 1}}  # fmt: skip
    body = {"query": query, "_source": ITEM_SOURCE, "sort": [{"published_at": "desc"}]}
    hits = iter(helpers.scan(es, query=body, index=index, preserve_order=True, size=2000))
    try:
        return [offered(hit["_source"]) for hit in islice(hits, max_items)]
    finally:
        close = getattr(hits, "close", None)
        if close is not None:
            close()  # clears the scroll context on the server


def alert_window(es: Elasticsearch, prefix: str, alert_id: str) -> AlertWindow:
    """The alert event's key, window and sample ids (``SourceError`` when there is none)."""
    try:
        doc = es.get(index=f"{prefix}-alerts", id=alert_id)["_source"]
    except NotFoundError:
        raise SourceError(f"no alert event {alert_id!r} in {prefix}-alerts") from None
    return AlertWindow(
        id=alert_id,
        key=str(doc["key"]),
        start=_utc(doc["window_start"]),
        end=_utc(doc["window_end"]),
        samples=tuple(str(s["id"]) for s in doc.get("samples") or []),
    )


def alert_first(window: AlertWindow, offers: Sequence[Offered]) -> list[str]:
    """The ids to review first for an alert (``selection.select``'s ``first``).

    Its samples, then the other items of its key in its window, most uncertain first.
    """
    present = {o.candidate.id for o in offers}
    samples = [s for s in window.samples if s in present]
    inside = [
        o.candidate
        for o in offers
        if o.candidate.id not in window.samples
        and matches(o, [window.key])
        and in_range(o, window.start, window.end)
    ]
    inside.sort(key=lambda c: (-uncertainty(c), c.id))
    return [*samples, *(c.id for c in inside)]
