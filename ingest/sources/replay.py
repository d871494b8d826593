"""Recorded feeds and items replayed with their original timestamps, optionally compressed.

Reads the formats of the shared fixtures: RSS/Atom/news-sitemap files, parsed-item JSON
lists (``*.jsonc``), Reddit cassettes and listings, StockTwits streams, and JSONL of RawItem.
Items are emitted in publication order; with ``speed`` X an item published T seconds after
the first one is emitted T/X seconds after the start (0 = everything on the first poll).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from finsent.config_sources import ReplaySourceConfig
from finsent.schemas import RawItem, SchemaError, decode
from ingest.errors import SourceError
from ingest.feeds import parse_feed
from ingest.items import ItemFactory
from ingest.normalise import parse_time
from ingest.sources.base import Poll, SourceContext
from ingest.sources.reddit import listing_entries
from ingest.sources.stocktwits import stream_entries

FEED_SUFFIXES = {".xml", ".rss", ".atom"}


@dataclass
class Recorded:
    """One replayable item and its original publication time."""

    item: RawItem
    at: datetime


def _files(paths: list[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file())
        elif path.is_file():
            yield path
        else:
            raise FileNotFoundError(f"replay path {path} does not exist")


def _json_entries(payload: Any) -> tuple[list[dict[str, Any]], str]:
    """Entries and their kind from one of the recorded JSON shapes."""
    if isinstance(payload, dict) and "interactions" in payload:  # a Reddit API cassette
        entries = []
        for interaction in payload["interactions"]:
            body = interaction.get("response", {}).get("body", {}).get("string", "")
            try:
                entries += listing_entries(json.loads(body))
            except ValueError:
                continue  # token exchanges and other non-listing responses
        return entries, "comment"
    if isinstance(payload, dict) and payload.get("kind") == "Listing":
        return listing_entries(payload), "comment"
    if isinstance(payload, dict) and "messages" in payload:
        return stream_entries(payload)[0], "comment"
    if isinstance(payload, list):  # parsed feed items
        return [
            {
                "guid": r.get("guid") or r.get("id") or r.get("link"),
                "url": r.get("origLink") or r.get("link"),
                "title": r.get("title"),
                "text": r.get("description") or r.get("content") or "",
                "published": r.get("pubDate") or r.get("published"),
                "author": r.get("author_name") or r.get("author"),
                "symbols": [r["symbol"]] if r.get("symbol") else [],
            }
            for r in payload
            if isinstance(r, dict)
        ], "news"
    raise ValueError("unrecognised JSON shape")


def load_recording(path: Path, factory: ItemFactory, now: datetime) -> list[Recorded]:
    """Every item of one file (raises ValueError/SourceError/SchemaError for a bad file)."""
    raw = path.read_bytes()
    if path.suffix == ".jsonl":
        items = [decode(RawItem, line) for line in raw.splitlines() if line.strip()]
        return [Recorded(i, i.published_at) for i in items]
    if path.suffix.lower() in FEED_SUFFIXES:
        entries, kind = parse_feed(raw), factory.kind
    elif path.suffix.lower() in (".json", ".jsonc"):
        entries, kind = _json_entries(json.loads(raw))
    else:
        return []
    out = []
    for entry in entries:
        item = factory.make(fetched_at=now, kind=kind, **entry)
        if item is not None:
            original = parse_time(entry.get("published")) or item.published_at
            out.append(Recorded(item, min(original, now)))
    return out


class ReplaySource:
    """Emits recorded items when their (compressed) time comes."""

    def __init__(self, config: ReplaySourceConfig) -> None:
        self.config = config
        self.pending: list[Recorded] = []
        self.errors: list[str] = []
        self.handed_out: dict[str, Recorded] = {}
        self.started = 0.0
        self.started_at = datetime.now(UTC)
        self.first_at = self.started_at
        self.last_at = self.started_at

    def setup(self, context: SourceContext) -> None:
        """Load every file now: a bad file is reported, the others still replay."""
        now = datetime.now(UTC)
        for path in _files(self.config.paths):
            try:
                self.pending += load_recording(path, context.items, now)
            except (ValueError, SourceError, SchemaError, UnicodeDecodeError) as exc:
                self.errors.append(f"{path.name}: {exc}")
        self.pending.sort(key=lambda r: r.at)
        self.started = time.monotonic()
        self.started_at = now
        if self.pending:
            self.first_at, self.last_at = self.pending[0].at, self.pending[-1].at

    @property
    def exhausted(self) -> bool:
        """Nothing left to emit."""
        return not self.pending

    def _offset_s(self, recorded: Recorded) -> float:
        """When (seconds after the start) an item is due."""
        if self.config.speed == 0:
            return 0.0
        return (recorded.at - self.first_at).total_seconds() / self.config.speed

    def _shifted(self, recorded: Recorded) -> RawItem:
        """The item with its publication time moved into the present (compressed)."""
        if not self.config.shift_to_now:
            return recorded.item
        if self.config.speed == 0:
            at = recorded.at + (self.started_at - self.last_at)
        else:
            at = self.started_at + timedelta(seconds=self._offset_s(recorded))
        at = min(at, datetime.now(UTC))
        return recorded.item.model_copy(update={"published_at": at, "fetched_at": at})

    def poll(self) -> Poll:
        """The items whose time has come (all of them at speed 0)."""
        problems = [("bad_recording", error) for error in self.errors]
        self.errors = []
        elapsed = time.monotonic() - self.started
        count = 0
        while count < len(self.pending) and self._offset_s(self.pending[count]) <= elapsed:
            count += 1
        due, self.pending = self.pending[:count], self.pending[count:]
        self.handed_out = {r.item.id: r for r in due}
        return Poll([self._shifted(r) for r in due], problems=problems, requeue=self._requeue)

    def _requeue(self, items: list[RawItem]) -> None:
        """Kafka refused these: they are due again at the next poll, in their order."""
        back = [self.handed_out[i.id] for i in items if i.id in self.handed_out]
        self.pending = sorted(back, key=lambda r: r.at) + self.pending

    def next_due_in_s(self) -> float | None:
        """Seconds until the next item is due (None when exhausted)."""
        if not self.pending:
            return None
        return max(0.0, self._offset_s(self.pending[0]) - (time.monotonic() - self.started))

    def close(self) -> None:
        """Nothing to release."""
