"""`finsent report`: item volume, negative items and negative share over time per key.

Reads the items and alerts indices (so it works from any machine with read access to
Elasticsearch), resamples the items per key with pandas and draws one panel per key: bars
for the items and the negative items of each bin, a line for the negative share, and a
labelled mark at each firing or escalated alert of the key. The keys drawn are those with
the most negative items (the detectors' signal), not merely the busiest ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from elasticsearch import helpers

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

INTERVALS = (
    (timedelta(hours=6), "5min"),
    (timedelta(days=2), "30min"),
    (timedelta(days=14), "3h"),
    (timedelta(days=120), "1D"),
)
"""Bin width by the span of the data: up to about 120 bars per panel."""
LONGEST_INTERVAL = "7D"

ITEM_SOURCE = ["published_at", "tickers", "topic.label", "is_negative", "story_id"]
"""The only item fields read: the frame needs nothing else."""
MARKED_STATUSES = ["firing", "escalated"]
"""Alert events drawn; a resolved event describes the calm window that ended an incident."""
MAX_ITEMS = 500_000
"""Default cap on the items read (``--max-items``): a frame of this size stays well in memory."""

ITEMS_COLOR, NEGATIVE_COLOR, SHARE_COLOR, ALERT_COLOR = "#9db4c0", "#5c7080", "#c0392b", "#8e44ad"
HEADROOM = 1.25
"""Both y axes reach this much past their data, leaving the top fifth for alert labels."""
LABEL_ROWS = (0.97, 0.905, 0.84)
"""Axes-fraction heights of alert labels, cycled so neighbouring labels do not overlap."""


@dataclass(frozen=True)
class Items:
    """Item documents of the range; ``truncated`` when ``max_items`` cut the read short."""

    docs: list[dict[str, Any]]
    truncated: bool


@dataclass(frozen=True)
class AlertMark:
    """A firing or escalated alert event: the window that crossed, how bad, by how much."""

    key: str
    start: datetime
    end: datetime
    severity: str
    ratio: float

    @property
    def label(self) -> str:
        """What the mark says: how bad, and by how much the window beat its baseline."""
        return f"{self.severity} {self.ratio:.1f}x"


def _range(since: datetime, until: datetime, field: str) -> dict[str, Any]:
    return {"range": {field: {"gte": since.isoformat(), "lte": until.isoformat()}}}


def fetch_items(
    es: Any, prefix: str, since: datetime, until: datetime, max_items: int = MAX_ITEMS
) -> Items:
    """The newest ``max_items`` item documents published in the range (a scroll, sorted).

    Newest first, so a cut keeps a contiguous recent stretch (the axis, trimmed to the
    data, shows where it starts) instead of an arbitrary sample that would bias the counts.
    """
    index = f"{prefix}-items"
    if not es.indices.exists(index=index):
        return Items([], truncated=False)  # nothing indexed yet under this prefix
    body = {
        "query": _range(since, until, "published_at"),
        "_source": ITEM_SOURCE,
        "sort": [{"published_at": "desc"}],
    }
    hits: Iterator[dict[str, Any]] = iter(
        helpers.scan(es, query=body, index=index, preserve_order=True, size=5000)
    )
    try:
        docs = [hit["_source"] for hit in islice(hits, max_items)]
        truncated = next(hits, None) is not None
    finally:
        close = getattr(hits, "close", None)
        if close is not None:
            close()  # clears the scroll context on the server
    return Items(docs, truncated)


def fetch_alerts(
    es: Any, prefix: str, since: datetime, until: datetime, keys: list[str]
) -> list[AlertMark]:
    """Firing and escalated events of ``keys`` whose window overlaps the range (none: no index)."""
    index = f"{prefix}-alerts"
    if not keys or not es.indices.exists(index=index):
        return []
    query = {"bool": {"filter": [
        {"terms": {"key": keys}}, {"terms": {"status": MARKED_STATUSES}},
        {"range": {"window_end": {"gte": since.isoformat()}}},
        {"range": {"window_start": {"lte": until.isoformat()}}},
    ]}}  # fmt: skip
    fields = ["key", "severity", "ratio", "window_start", "window_end"]
    hits = helpers.scan(es, query={"query": query, "_source": fields}, index=index)
    return sorted(
        (alert_mark(hit["_source"]) for hit in hits), key=lambda mark: (mark.key, mark.end)
    )


def alert_mark(doc: Mapping[str, Any]) -> AlertMark:
    """An alert document (``finsent.schemas.Alert`` fields) as a mark."""
    return AlertMark(
        key=str(doc["key"]),
        start=_utc(doc["window_start"]),
        end=_utc(doc["window_end"]),
        severity=str(doc["severity"]),
        ratio=float(doc["ratio"]),
    )


def _utc(text: str) -> datetime:
    parsed = datetime.fromisoformat(text)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def item_frame(docs: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per (item, key): ``ticker:X`` for each of its tickers, ``topic:Y`` for its topic.

    Columns ``published_at`` (UTC), ``key``, ``negative`` (bool) and ``story_id``
    (syndicated copies share it; None where the document has none).
    """
    rows = [
        {
            "published_at": doc["published_at"],
            "tickers": sorted(set(doc.get("tickers") or [])),
            "topic": (doc.get("topic") or {}).get("label"),
            "negative": bool(doc.get("is_negative")),
            "story_id": doc.get("story_id"),
        }
        for doc in docs
    ]
    base = pd.DataFrame(rows, columns=["published_at", "tickers", "topic", "negative", "story_id"])
    base["published_at"] = pd.to_datetime(base["published_at"], utc=True, format="ISO8601")
    tickers = base.explode("tickers").dropna(subset=["tickers"])
    tickers = tickers.assign(key="ticker:" + tickers["tickers"].astype(str))
    topics = base.dropna(subset=["topic"])
    topics = topics.assign(key="topic:" + topics["topic"].astype(str))
    columns = ["published_at", "key", "negative", "story_id"]
    frame = pd.concat([tickers[columns], topics[columns]], ignore_index=True)
    return frame.astype({"key": str, "negative": bool})


def interval_for(span: timedelta) -> str:
    """A bin width (pandas frequency) giving a readable number of bars over ``span``."""
    for limit, interval in INTERVALS:
        if span <= limit:
            return interval
    return LONGEST_INTERVAL


def data_span(frame: pd.DataFrame) -> timedelta:
    """From the first to the last item of the frame."""
    if frame.empty:
        return timedelta(0)
    times = frame["published_at"]
    return pd.Timedelta(times.max() - times.min()).to_pytimedelta()


def bin_frame(frame: pd.DataFrame, interval: str) -> pd.DataFrame:
    """Per key and bin: ``items``, ``negative`` (count) and ``negative_share``.

    Indexed by (``key``, ``bin``: the bin's start, UTC). Each key's bins run from its first
    to its last item; a bin without items has a share of NaN, so the line breaks there.
    """
    resampled = (
        frame.set_index("published_at")
        .groupby("key")["negative"]
        .resample(interval)
        .agg(["size", "sum"])
    )
    bins = pd.DataFrame(
        {"items": resampled["size"].astype(int), "negative": resampled["sum"].astype(int)}
    )
    bins.index = bins.index.set_names(["key", "bin"])
    bins["negative_share"] = (bins["negative"] / bins["items"]).where(bins["items"] > 0)
    return bins


def rank_keys(frame: pd.DataFrame, tickers: int, topics: int) -> list[str]:
    """The ``tickers`` tickers, then the ``topics`` topics, with the most negative items.

    Ties go to the key with more items, then by name; keys without negatives come last.
    """
    totals = frame.groupby("key")["negative"].agg(negative="sum", items="size").reset_index()
    totals = totals.sort_values(["negative", "items", "key"], ascending=[False, False, True])
    ordered = [str(key) for key in totals["key"]]
    chosen = [k for k in ordered if k.startswith("ticker:")][: max(tickers, 0)]
    return chosen + [k for k in ordered if k.startswith("topic:")][: max(topics, 0)]


def bin_width(interval: str) -> timedelta:
    """The width of one bin of ``interval``."""
    return pd.Timedelta(interval).to_pytimedelta()


def axis_limits(bins: pd.DataFrame, keys: list[str], interval: str) -> tuple[datetime, datetime]:
    """The x range of the data: first to last bin with items of ``keys``, half a bin either side."""
    busy = bins[bins["items"] > 0]
    starts = busy[busy.index.get_level_values("key").isin(keys)].index.get_level_values("bin")
    if starts.empty:
        raise ValueError(f"no items for {keys}")
    width = bin_width(interval)
    first: datetime = starts.min().to_pydatetime()
    last: datetime = starts.max().to_pydatetime()
    return first - width / 2, last + width + width / 2


@dataclass(frozen=True)
class Report:
    """What one picture shows: the binned keys, their alert marks and the time axis."""

    bins: pd.DataFrame
    keys: list[str]
    interval: str
    alerts: list[AlertMark]
    data_start: datetime
    data_end: datetime
    limits: tuple[datetime, datetime]

    @property
    def marked(self) -> list[AlertMark]:
        """The alerts of drawn keys whose window overlaps the time axis (those drawn)."""
        left, right = self.limits
        return [a for a in self.alerts if a.key in self.keys and a.start <= right and a.end >= left]


def build_report(frame: pd.DataFrame, keys: list[str], alerts: list[AlertMark]) -> Report:
    """Bin ``keys``' items at a width chosen from their span and trim the axis to them."""
    drawn = frame[frame["key"].isin(keys)]
    if drawn.empty:
        raise ValueError(f"no items for {keys}")
    present = set(drawn["key"])
    keys = [k for k in keys if k in present]
    interval = interval_for(data_span(drawn))
    bins = bin_frame(drawn, interval)
    times = drawn["published_at"]
    return Report(
        bins=bins,
        keys=keys,
        interval=interval,
        alerts=alerts,
        data_start=times.min().to_pydatetime(),
        data_end=times.max().to_pydatetime(),
        limits=axis_limits(bins, keys, interval),
    )


def date_numbers(times: Iterable[datetime]) -> list[float]:
    """Matplotlib's date numbers (days since its epoch) of aware datetimes."""
    from matplotlib.dates import date2num

    return [float(n) for n in date2num(list(times))]  # type: ignore[no-untyped-call]


def _panel(ax: Axes, report: Report, key: str) -> None:
    from matplotlib.ticker import MaxNLocator

    bins = report.bins.xs(key, level="key")
    width = bin_width(report.interval)
    centers = date_numbers(t.to_pydatetime() + width / 2 for t in bins.index)
    bar_width = width.total_seconds() / 86400 * 0.9
    ax.bar(centers, bins["items"], width=bar_width, color=ITEMS_COLOR, label="items")
    ax.bar(centers, bins["negative"], width=bar_width, color=NEGATIVE_COLOR,
           label="negative items")  # fmt: skip
    ax.set_ylabel("items")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylim(0, max(int(bins["items"].max()), 1) * HEADROOM)
    share = ax.twinx()
    share.plot(centers, bins["negative_share"], color=SHARE_COLOR, linewidth=1.4, marker=".",
               markersize=3, label="negative share")  # fmt: skip
    share.set_ylim(0, HEADROOM)
    share.set_yticks([0, 0.25, 0.5, 0.75, 1])
    share.set_ylabel("negative share")
    left, right = date_numbers(report.limits)
    marks = [a for a in report.marked if a.key == key]
    for n, mark in enumerate(marks):
        start, end = date_numbers([mark.start, mark.end])
        ax.axvspan(start, end, color=ALERT_COLOR, alpha=0.08, linewidth=0)
        ax.axvline(end, color=ALERT_COLOR, linestyle="--", linewidth=1.2, clip_on=True)
        at = min(max(end, left), right)  # a window running past the data: label at the edge
        on_right = (at - left) / (right - left) > 0.5  # the label opens towards the middle
        share.text(
            at, LABEL_ROWS[n % len(LABEL_ROWS)], f" {mark.label} ",
            transform=share.get_xaxis_transform(), ha="right" if on_right else "left", va="top",
            fontsize=7, color=ALERT_COLOR, clip_on=True, gid="alert-label",
            bbox={"boxstyle": "square,pad=0.1", "facecolor": "white", "edgecolor": "none",
                  "alpha": 0.6},
        )  # fmt: skip
    items, negative = int(bins["items"].sum()), int(bins["negative"].sum())
    ax.set_title(
        f"{key}: {items} items, {negative} negative ({negative / items:.0%})",
        loc="left", fontsize=9,
    )  # fmt: skip


def draw(report: Report, output: Path) -> Figure:
    """One panel per key, one legend; writes PNG (or any format matplotlib knows by suffix).

    Built on an Agg canvas without pyplot: no global figure state, no display needed, and
    the returned figure can still be measured (text extents) by a caller.
    """
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    rows = len(report.keys)
    figure = Figure(figsize=(11, 2.2 * rows + 1.2), layout="constrained")
    FigureCanvasAgg(figure)
    with matplotlib.rc_context({"date.converter": "concise"}):
        axes = figure.subplots(rows, 1, sharex=True, squeeze=False)
        for ax, key in zip(axes[:, 0], report.keys, strict=True):
            _panel(ax, report, key)
        axes[-1, 0].xaxis_date("UTC")  # concise date ticks (the rc above)
        axes[-1, 0].set_xlim(*date_numbers(report.limits))
    handles = [
        Patch(color=ITEMS_COLOR, label="items"),
        Patch(color=NEGATIVE_COLOR, label="negative items"),
        Line2D([], [], color=SHARE_COLOR, linewidth=1.4, label="negative share"),
        Line2D([], [], color=ALERT_COLOR, linestyle="--", linewidth=1.2,
               label="alert: window end, severity, ratio"),
    ]  # fmt: skip
    figure.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=8)
    start, end = report.data_start, report.data_end
    figure.suptitle(
        f"finsent: items and negative share per {report.interval} bin, data from "
        f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC"
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(output, dpi=110)
    return figure
