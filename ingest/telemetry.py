"""Ingest telemetry (prefix finsent_ingest_): per-source fetches, items, errors, freshness."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

FETCHES = Counter("finsent_ingest_fetches_total", "Polls of a source.", ["source", "outcome"])
ITEMS = Counter(
    "finsent_ingest_items_total", "Items seen by ingest (new or duplicate).", ["source", "status"]
)
ERRORS = Counter("finsent_ingest_errors_total", "Failed polls by reason.", ["source", "reason"])
LAST_SUCCESS = Gauge(
    "finsent_ingest_last_success_timestamp_seconds", "Unix time of the last good poll.", ["source"]
)
FETCH_SECONDS = Histogram(
    "finsent_ingest_fetch_seconds",
    "Poll latency (fetch + parse).",
    ["source"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
UNHEALTHY = Gauge(
    "finsent_ingest_source_unhealthy",
    "1 when a source failed or stayed silent for failing_after_intervals polls.",
    ["source", "state"],
)
