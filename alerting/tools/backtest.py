"""Recorded ScoredItems through the live detector code, at full speed, by event time only."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import timedelta
from pathlib import Path

from alerting.detect.detector import SurgeDetector
from alerting.detect.keys import keyed_items
from alerting.detect.rules import RuleSet
from finsent.schemas import Alert, SchemaError, ScoredItem, decode


class BacktestError(ValueError):
    """A recording that cannot be read; names the file and line."""


def read_scored(paths: Iterable[Path]) -> Iterator[ScoredItem]:
    """ScoredItems from JSONL files (blank lines skipped); a bad line is an error."""
    for path in paths:
        try:
            lines = path.open(encoding="utf-8")
        except OSError as exc:
            raise BacktestError(f"{path}: cannot read: {exc.strerror}") from exc
        with lines:
            for number, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                try:
                    yield decode(ScoredItem, line)
                except SchemaError as exc:
                    raise BacktestError(f"{path}:{number}: {exc.reason}") from exc


BATCH = 1000  # items keyed and counted between two yields of their alerts


def feed(detector: SurgeDetector, items: Iterable[ScoredItem]) -> list[Alert]:
    """Key items and count every entry, in order, as the router and the live stage do."""
    alerts: list[Alert] = []
    for item in items:
        for entry in keyed_items(item):
            alerts += detector.add(entry)
    return alerts


def backtest(
    items: Iterable[ScoredItem],
    rules: RuleSet,
    window_s: int,
    lateness_s: int,
    samples: int = 5,
    kibana_url: str | None = None,
    bin_s: int = 60,
    rhythm_slot_s: int | None = None,
    rhythm_timezone: str = "UTC",
) -> Iterator[Alert]:
    """The alerts the detector would have fired, in order; open windows are closed at the end.

    One detector sees every key (the live stage runs one per partition of the keyed topic;
    keys never share state, so the alerts are the same).
    """
    detector = SurgeDetector(
        rules,
        window_s,
        lateness_s,
        samples,
        kibana_url,
        bin_s=bin_s,
        rhythm_slot_s=rhythm_slot_s,
        rhythm_timezone=rhythm_timezone,
    )
    latest = None
    batch: list[ScoredItem] = []
    for item in items:
        batch.append(item)
        latest = item.published_at if latest is None else max(latest, item.published_at)
        if len(batch) >= BATCH:
            yield from feed(detector, batch)
            batch = []
    yield from feed(detector, batch)
    if latest is not None:  # flush: the stream ended, every window may close
        yield from detector.advance(latest + timedelta(seconds=2 * window_s + lateness_s))
