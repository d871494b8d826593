"""Scored items into Elasticsearch: daily indices behind an alias, ``_id`` = item id.

``add()`` buffers, ``flush()`` sends one bulk request and retries only the items that failed
with a retryable status (429 and 5xx: backpressure, never dropped). Items rejected for good
(a mapping conflict, say) are returned so the caller can dead-letter them with the reason.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from elasticsearch import ApiError, ConnectionError, Elasticsearch, TransportError

from finsent import telemetry
from finsent.schemas import ScoredItem

RETRYABLE = {429, 500, 502, 503, 504}


@dataclass
class Rejected:
    """An item Elasticsearch refused for good, with why."""

    item: ScoredItem
    status: int
    reason: str


@dataclass
class FlushResult:
    """What one flush achieved."""

    indexed: int = 0
    rejected: list[Rejected] = field(default_factory=list)


class ItemSink(Protocol):
    """Where the index stage puts scored items: ``add`` buffers, ``flush`` makes durable."""

    def add(self, item: ScoredItem) -> None:
        """Buffer one item."""
        ...

    def flush(self) -> FlushResult:
        """Write what is buffered; say what was indexed and what was refused for good."""
        ...


MISDATED = "misdated"
"""Suffix of the one index for items whose publication day is no use as a daily index."""
MAX_AGE_DAYS = 30


def index_name(prefix: str, item: ScoredItem, max_age_days: int = MAX_AGE_DAYS) -> str:
    """Daily index by publication day (UTC): ``finsent-items-2026.03.02``.

    Only for items published within ``max_age_days`` before they were fetched (ingest
    already clamps future dates to the fetch time): an archive feed, or a date of 1970 or
    year 1, must not create an index per day and exhaust the cluster's shards. Those go to
    ``finsent-items-misdated`` (behind the same alias). The fetch time, not the clock, is
    the reference, so a replay puts every item in the same index again (``_id`` stays unique).
    """
    age = item.fetched_at - item.published_at
    if age > timedelta(days=max_age_days) or age < -timedelta(days=1):
        telemetry.MISDATED_ITEMS.inc()
        return f"{prefix}-items-{MISDATED}"
    return f"{prefix}-items-{item.published_at:%Y.%m.%d}"


def document(item: ScoredItem, indexed_at: str) -> dict[str, Any]:
    """The indexed form: the ScoredItem, ``is_negative`` and ``indexed_at``.

    ``is_negative`` is 0/1 (its mean is the negative share); ``indexed_at`` is when the bulk
    request was sent, so ``indexed_at - fetched_at`` is the pipeline's latency.
    """
    return item.model_dump(mode="json") | {
        "is_negative": int(item.sentiment.label == "negative"),
        "indexed_at": indexed_at,
    }


class ElasticsearchSink:
    """Buffered, idempotent bulk indexing with per-item retries."""

    def __init__(
        self,
        client: Elasticsearch,
        prefix: str,
        max_backoff_s: float = 30.0,
        on_wait: Callable[[float], None] = time.sleep,
        max_age_days: int = MAX_AGE_DAYS,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.max_age_days = max_age_days
        self.max_backoff_s = max_backoff_s
        self.on_wait = on_wait  # the consumer keeps its group membership while waiting
        self.buffer: list[ScoredItem] = []

    def add(self, item: ScoredItem) -> None:
        """Buffer one item (the last copy of an id wins)."""
        self.buffer.append(item)

    def _bulk(self, items: list[ScoredItem]) -> list[dict[str, Any]]:
        operations: list[dict[str, Any]] = []
        now = datetime.now(UTC).isoformat(timespec="milliseconds")
        for item in items:
            operations.append(
                {
                    "index": {
                        "_index": index_name(self.prefix, item, self.max_age_days),
                        "_id": item.id,
                    }
                }
            )
            operations.append(document(item, now))
        response = self.client.bulk(operations=operations)
        return [next(iter(entry.values())) for entry in response["items"]]

    def flush(self) -> FlushResult:
        """Index everything buffered; returns only when each item is indexed or rejected."""
        result = FlushResult()
        pending, self.buffer = self.buffer, []
        backoff = 0.5
        while pending:
            try:
                outcomes = self._bulk(pending)
            except (ConnectionError, TransportError) as exc:
                outcomes = [{"status": 503, "error": {"reason": str(exc)}}] * len(pending)
            except ApiError as exc:
                status = int(getattr(exc, "status_code", 500) or 500)
                outcomes = [{"status": status, "error": {"reason": str(exc)}}] * len(pending)
            retry: list[ScoredItem] = []
            for item, outcome in zip(pending, outcomes, strict=True):
                status = int(outcome.get("status", 500))
                if status < 300:
                    result.indexed += 1
                elif status in RETRYABLE:
                    retry.append(item)
                else:
                    error = outcome.get("error") or {}
                    reason = error.get("reason") if isinstance(error, dict) else str(error)
                    result.rejected.append(Rejected(item, status, f"{status}: {reason}"))
            if retry:
                self.on_wait(backoff)
                backoff = min(backoff * 2, self.max_backoff_s)
            pending = retry
        return result
