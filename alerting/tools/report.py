"""`finsent report`: item volume and negative share over time for the top keys, alerts marked.

Reads the items and alerts indices (so it works from any machine with read access to
Elasticsearch) and draws one panel per key: bars for the item count, a line for the share
of negative items, and a vertical mark at each firing alert of that key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from alerting.detect.links import FIELDS

INTERVALS = ((timedelta(hours=6), "5m"), (timedelta(days=2), "30m"), (timedelta(days=14), "3h"))


@dataclass
class Series:
    """One key's buckets and alerts."""

    key: str
    times: list[datetime] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)
    negative_share: list[float] = field(default_factory=list)
    alerts: list[tuple[datetime, str]] = field(default_factory=list)


def interval_for(span: timedelta) -> str:
    """A histogram interval giving a readable number of bars."""
    for limit, interval in INTERVALS:
        if span <= limit:
            return interval
    return "1d"


def top_keys(es: Any, index: str, since: datetime, tickers: int, topics: int) -> list[str]:
    """The busiest tickers and topics in the range."""
    response = es.search(
        index=index, size=0, query={"range": {"published_at": {"gte": since.isoformat()}}},
        aggs={"tickers": {"terms": {"field": "tickers", "size": tickers}},
              "topics": {"terms": {"field": "topic.label", "size": topics}}},
    )  # fmt: skip
    aggs = response["aggregations"]
    return [f"ticker:{b['key']}" for b in aggs["tickers"]["buckets"]] + [
        f"topic:{b['key']}" for b in aggs["topics"]["buckets"]
    ]


def collect(
    es: Any, prefix: str, since: datetime, until: datetime, keys: list[str]
) -> list[Series]:
    """Buckets per key from the items index and firing alerts from the alerts index."""
    interval = interval_for(until - since)
    series = []
    for key in keys:
        key_type, _, value = key.partition(":")
        filters: list[dict[str, Any]] = [
            {"range": {"published_at": {"gte": since.isoformat(), "lte": until.isoformat()}}}
        ]
        if key_type in FIELDS:
            filters.append({"term": {FIELDS[key_type]: value}})
        response = es.search(
            index=f"{prefix}-items", size=0, query={"bool": {"filter": filters}},
            aggs={"t": {"date_histogram": {"field": "published_at", "fixed_interval": interval},
                        "aggs": {"neg": {"avg": {"field": "is_negative"}}}}},
        )  # fmt: skip
        one = Series(key)
        for bucket in response["aggregations"]["t"]["buckets"]:
            one.times.append(datetime.fromtimestamp(bucket["key"] / 1000, UTC))
            one.counts.append(int(bucket["doc_count"]))
            one.negative_share.append(float(bucket["neg"]["value"] or 0.0))
        series.append(one)
    alerts_index = f"{prefix}-alerts"
    if es.indices.exists(index=alerts_index):
        response = es.search(
            index=alerts_index, size=1000,
            query={"bool": {"filter": [
                {"terms": {"key": keys}}, {"term": {"status": "firing"}},
                {"range": {"window_start": {"gte": since.isoformat()}}}]}},
        )  # fmt: skip
        by_key = {s.key: s for s in series}
        for hit in response["hits"]["hits"]:
            alert = hit["_source"]
            by_key[alert["key"]].alerts.append(
                (datetime.fromisoformat(alert["created_at"]), alert["severity"])
            )
    return series


def draw(series: list[Series], since: datetime, until: datetime, output: Path) -> None:
    """One panel per key; PNG (or any format matplotlib knows by the suffix)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = max(len(series), 1)
    figure, axes = plt.subplots(rows, 1, figsize=(11, 2.2 * rows + 0.8), sharex=True, squeeze=False)
    width = (
        (until - since).total_seconds()
        / 86400
        / max(max((len(s.times) for s in series), default=1), 1)
    )
    for ax, one in zip(axes[:, 0], series, strict=False):
        ax.bar(one.times, one.counts, width=width * 0.9, color="#9db4c0", label="items")
        ax.set_ylabel("items")
        share = ax.twinx()
        share.plot(
            one.times, one.negative_share, color="#c0392b", linewidth=1.4, label="negative share"
        )
        share.set_ylim(0, 1)
        share.set_ylabel("negative")
        for at, severity in one.alerts:
            ax.axvline(at, color="#8e44ad", linestyle="--", linewidth=1.2)
            ax.annotate(f"alert ({severity})", (at, ax.get_ylim()[1]), fontsize=7, color="#8e44ad",
                        ha="left", va="top")  # fmt: skip
        ax.set_title(one.key, loc="left", fontsize=9)
    axes[-1, 0].set_xlim(since, until)
    figure.suptitle(
        f"finsent: volume and negative share, {since:%Y-%m-%d %H:%M} to {until:%Y-%m-%d %H:%M} UTC"
    )
    figure.tight_layout()
    output.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(output, dpi=110)
    plt.close(figure)
