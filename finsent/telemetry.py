"""Prometheus metrics of the pipeline stages (prefix ``finsent_``) and recent alerts.

Ingest keeps its own ``finsent_ingest_*`` metrics in ``ingest/telemetry.py``; everything else
is declared here, so every name is in one place. Queue time (fetched -> classified) and
inference time are separate histograms; batch size is measured in items and in tokens.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

STAGE_UP = Gauge("finsent_stage_up", "1 while a stage is set up and running.", ["stage"])
STAGE_RESTARTS = Counter("finsent_stage_restarts_total", "Stage crashes (restarted).", ["stage"])
CONSUMER_LAG = Gauge(
    "finsent_consumer_lag", "Records not yet committed by a stage's group.", ["stage", "topic"]
)
PROCESSED = Counter(
    "finsent_stage_records_total", "Records a stage finished (produced/indexed/routed).", ["stage"]
)
DEAD_LETTERS = Counter(
    "finsent_dead_letters_total", "Records dead-lettered, by kind of reason.", ["stage", "reason"]
)
BATCH_ITEMS = Histogram(
    "finsent_classify_batch_items", "Items per forward pass.",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)  # fmt: skip
BATCH_TOKENS = Histogram(
    "finsent_classify_batch_tokens", "Padded tokens per forward pass (longest x items).",
    buckets=(64, 256, 1024, 2048, 4096, 8192, 16384, 32768),
)  # fmt: skip
INFERENCE_SECONDS = Histogram(
    "finsent_classify_inference_seconds", "Forward-pass latency per micro-batch.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)  # fmt: skip
QUEUE_SECONDS = Histogram(
    "finsent_classify_queue_seconds", "From fetched_at (ingest) to the start of classification.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)  # fmt: skip
MISDATED_ITEMS = Counter(
    "finsent_index_misdated_items_total",
    "Items indexed into finsent-items-misdated: published too long before they were fetched.",
)
ALERTS = Counter("finsent_alerts_total", "Alert events emitted.", ["status", "severity"])
WEBHOOK_DELIVERIES = Counter(
    "finsent_webhook_deliveries_total",
    "Webhook attempts by outcome (delivered, retry, dead, suppressed).",
    ["endpoint", "outcome"],
)


class RecentAlerts:
    """The last few alert events, for the console summary."""

    def __init__(self, size: int = 5) -> None:
        self._items: deque[Any] = deque(maxlen=size)
        self._lock = threading.Lock()

    def add(self, alert: Any) -> None:
        """Remember one event."""
        with self._lock:
            self._items.append(alert)

    def latest(self) -> list[Any]:
        """Newest last."""
        with self._lock:
            return list(self._items)


RECENT_ALERTS = RecentAlerts()
