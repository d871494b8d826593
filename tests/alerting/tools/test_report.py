"""`finsent report`: item docs -> per-key frame -> bins -> keys by negatives -> a picture."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from matplotlib.text import Text
from typer.testing import CliRunner

from alerting.tools.report import (
    AlertMark,
    alert_mark,
    axis_limits,
    bin_frame,
    build_report,
    draw,
    interval_for,
    item_frame,
    rank_keys,
)
from finsent.cli import build_app

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def doc(
    minutes: float, tickers: list[str], topic: str | None, negative: bool, story: str | None = None
) -> dict[str, Any]:
    """An item document as the index stage writes it (the fields the report reads)."""
    out: dict[str, Any] = {
        "published_at": (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z"),
        "tickers": tickers,
        "is_negative": int(negative),
    }
    if topic is not None:
        out["topic"] = {"label": topic}
    if story is not None:
        out["story_id"] = story
    return out


def test_item_frame_explodes_tickers_and_topic_into_keys() -> None:
    frame = item_frame([
        doc(0, ["AAPL", "MSFT"], "Macro", True, story="s1"),
        doc(1, ["AAPL", "AAPL"], "Earnings", False),  # a repeated ticker counts once
        doc(2, [], None, True),  # no keys at all
    ])  # fmt: skip
    assert sorted(frame["key"]) == sorted(
        ["ticker:AAPL", "ticker:MSFT", "topic:Macro", "ticker:AAPL", "topic:Earnings"]
    )
    assert list(frame.columns) == ["published_at", "key", "negative", "story_id"]
    assert str(frame["published_at"].dt.tz) == "UTC"
    first = frame[frame["story_id"] == "s1"]
    assert set(first["key"]) == {"ticker:AAPL", "ticker:MSFT", "topic:Macro"}
    assert first["negative"].all()
    assert frame[frame["key"] == "topic:Earnings"]["negative"].tolist() == [False]


def test_item_frame_of_nothing_is_empty_with_the_columns() -> None:
    frame = item_frame([])
    assert frame.empty
    assert list(frame.columns) == ["published_at", "key", "negative", "story_id"]
    assert rank_keys(frame, 5, 2) == []


def test_bins_count_items_negatives_and_share_per_key() -> None:
    frame = item_frame([
        doc(1, ["AAPL"], "Macro", True),
        doc(2, ["AAPL"], "Macro", False),
        doc(4, ["AAPL"], "Macro", True),
        doc(7, ["AAPL"], "Macro", False),  # second 5-min bin
        doc(21, ["AAPL"], "Macro", True),  # fifth bin; the three between are empty
        doc(3, ["TSLA"], "Macro", False),
    ])  # fmt: skip
    bins = bin_frame(frame, "5min")
    aapl = bins.xs("ticker:AAPL", level="key")
    assert list(aapl.index) == [pd.Timestamp(T0 + timedelta(minutes=m)) for m in range(0, 25, 5)]
    assert aapl["items"].tolist() == [3, 1, 0, 0, 1]
    assert aapl["negative"].tolist() == [2, 0, 0, 0, 1]
    share = aapl["negative_share"].tolist()
    assert share[0] == pytest.approx(2 / 3)
    assert share[1] == 0.0
    assert pd.isna(share[2]) and pd.isna(share[3]), "no items: no share (the line breaks)"
    assert share[4] == 1.0
    macro = bins.xs("topic:Macro", level="key")
    assert macro["items"].tolist() == [4, 1, 0, 0, 1]
    assert macro["negative"].tolist() == [2, 0, 0, 0, 1]
    tsla = bins.xs("ticker:TSLA", level="key")
    assert tsla["items"].tolist() == [1]
    assert tsla["negative_share"].tolist() == [0.0]


def test_interval_gives_a_readable_number_of_bars() -> None:
    assert interval_for(timedelta(0)) == "5min"
    assert interval_for(timedelta(hours=6)) == "5min"
    assert interval_for(timedelta(hours=24)) == "30min"
    assert interval_for(timedelta(days=7)) == "3h"
    assert interval_for(timedelta(days=30)) == "1D"
    assert interval_for(timedelta(days=365)) == "7D"


def test_resampling_follows_the_interval() -> None:
    frame = item_frame([doc(m, ["AAPL"], None, m % 90 == 0) for m in range(0, 24 * 60, 10)])
    report = build_report(frame, ["ticker:AAPL"], [])
    assert report.interval == "30min", "a day of data: half-hour bins"
    bins = report.bins.xs("ticker:AAPL", level="key")
    assert len(bins) == 48
    assert bins["items"].sum() == 144
    assert set(bins["items"]) == {3}
    assert bins["negative"].sum() == 16


def test_keys_ranked_by_negative_volume_not_item_count() -> None:
    docs = [doc(m, ["CALM"], "Markets", False) for m in range(40)]  # busy and calm
    docs += [doc(m, ["HOT"], "Macro", m < 6) for m in range(8)]  # fewer items, more negatives
    docs += [doc(m, ["WARM"], "Macro", m < 2) for m in range(20)]
    docs += [doc(m, ["TIE"], "Macro", m < 2) for m in range(3)]  # WARM's negatives, fewer items
    frame = item_frame(docs)
    assert rank_keys(frame, 1, 1) == ["ticker:HOT", "topic:Macro"]
    assert rank_keys(frame, 4, 2) == [
        "ticker:HOT", "ticker:WARM", "ticker:TIE", "ticker:CALM", "topic:Macro", "topic:Markets",
    ], "negatives first, ties by items, keys without negatives last however busy"  # fmt: skip
    assert rank_keys(frame, 0, 1) == ["topic:Macro"]
    assert rank_keys(frame, 2, 0) == ["ticker:HOT", "ticker:WARM"]


def test_axis_trimmed_to_the_bins_with_items() -> None:
    # The requested range would be a day; the data covers 09:12 to 10:47.
    frame = item_frame([
        doc(12, ["AAPL"], None, True), doc(47, ["AAPL"], None, False),
        doc(95, ["MSFT"], None, False), doc(107, ["NVDA"], None, True),
    ])  # fmt: skip
    bins = bin_frame(frame, "5min")
    half = timedelta(minutes=2.5)
    assert axis_limits(bins, ["ticker:AAPL", "ticker:MSFT"], "5min") == (
        T0 + timedelta(minutes=10) - half,
        T0 + timedelta(minutes=100) + half,
    ), "first bin 09:10, last bin 10:35 to 10:40, half a bin either side"
    report = build_report(frame, ["ticker:AAPL", "ticker:MSFT", "ticker:NVDA"], [])
    assert report.limits == (
        T0 + timedelta(minutes=10) - half,
        T0 + timedelta(minutes=110) + half,
    )
    assert (report.data_start, report.data_end) == (
        T0 + timedelta(minutes=12),
        T0 + timedelta(minutes=107),
    )
    with pytest.raises(ValueError, match="no items"):
        axis_limits(bins, ["ticker:NONE"], "5min")


def test_alert_document_becomes_a_mark() -> None:
    mark = alert_mark({
        "key": "ticker:AAPL", "status": "firing", "severity": "high", "ratio": 3.25,
        "window_start": "2026-03-02T09:15:00Z", "window_end": "2026-03-02T09:30:00+00:00",
        "created_at": "2026-03-02T09:31:02Z", "observed": 13, "expected": 4.0,
    })  # fmt: skip
    assert mark == AlertMark(
        "ticker:AAPL", T0 + timedelta(minutes=15), T0 + timedelta(minutes=30), "high", 3.25
    )
    assert mark.label == "high 3.2x"


def mark(key: str, start: float, end: float, severity: str, ratio: float) -> AlertMark:
    return AlertMark(
        key, T0 + timedelta(minutes=start), T0 + timedelta(minutes=end), severity, ratio
    )


def _inside(text: Text) -> bool:
    """Whether the label's drawn box lies within its axes (half a pixel of rounding)."""
    assert text.axes is not None
    box = text.get_window_extent()
    frame = text.axes.get_window_extent()
    return bool(
        frame.x0 - 0.5 <= box.x0
        and box.x1 <= frame.x1 + 0.5
        and frame.y0 - 0.5 <= box.y0
        and box.y1 <= frame.y1 + 0.5
    )


def test_draw_has_a_legend_and_alert_labels_inside_the_frame(tmp_path: Path) -> None:
    docs = [doc(m, ["AAPL"], "Macro", m % 3 == 0) for m in range(0, 240, 2)]
    docs += [doc(m, ["TSLA"], "Macro", m > 200) for m in range(0, 240, 4)]
    frame = item_frame(docs)
    keys = rank_keys(frame, 2, 1)
    alerts = [
        mark("ticker:AAPL", 0, 15, "low", 1.8),  # at the left edge
        mark("ticker:AAPL", 100, 115, "medium", 2.4),
        mark("ticker:TSLA", 230, 245, "critical", 6.0),  # the window ends past the last bin
        mark("ticker:TSLA", -300, -285, "high", 3.0),  # off the axis
        mark("ticker:MSFT", 0, 15, "high", 3.0),  # a key not drawn
    ]
    report = build_report(frame, keys, alerts)
    assert len(report.marked) == 3, "off the axis or of a key not drawn: not marked"
    output = tmp_path / "sub" / "report.png"
    figure = draw(report, output)
    assert output.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    [legend] = figure.legends
    labels = [t.get_text() for t in legend.get_texts()]
    assert labels[:3] == ["items", "negative items", "negative share"]
    assert labels[3].startswith("alert")
    panels = [ax for ax in figure.axes if ax.get_title(loc="left")]
    assert [ax.get_title(loc="left").split(":")[0:2] for ax in panels] == [
        ["ticker", "AAPL"], ["ticker", "TSLA"], ["topic", "Macro"],
    ]  # fmt: skip
    assert "negative" in panels[0].get_title(loc="left")
    assert "2026-03-02 09:00 to 2026-03-02 12:58 UTC" in figure.get_suptitle()

    figure.draw_without_rendering()  # lays the figure out as savefig did
    marks = [t for t in figure.findobj(Text) if t.get_gid() == "alert-label"]
    labels = sorted(t.get_text().strip() for t in marks)
    assert labels == ["critical 6.0x", "low 1.8x", "medium 2.4x"]
    for text in marks:
        assert text.get_clip_on()
        assert _inside(text), f"{text.get_text()!r} leaves its panel"
    left, right = report.limits
    assert left == T0 - timedelta(minutes=2.5)
    assert right == T0 + timedelta(minutes=240) + timedelta(minutes=2.5)


def test_report_names_an_unreachable_elasticsearch(tmp_path: Path) -> None:
    env = {"FINSENT_ELASTICSEARCH__HOSTS": '["http://127.0.0.1:9"]'}
    result = CliRunner().invoke(
        build_app(), ["report", "-o", str(tmp_path / "r.png"), "--max-items", "10"], env=env
    )
    assert result.exit_code == 1
    assert "finsent: Elasticsearch at ['http://127.0.0.1:9']" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "r.png").exists()
