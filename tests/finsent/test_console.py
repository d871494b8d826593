"""The live console summary: consumer lag shows, each alert event is printed once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from finsent import health, telemetry
from finsent.config import Settings
from finsent.console import ConsoleSummary
from finsent.schemas import Alert

T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)


def test_the_lag_the_monitor_measures_reaches_the_console(monkeypatch: pytest.MonkeyPatch) -> None:
    import finsent.kafka

    monkeypatch.setattr(finsent.kafka, "group_lag", lambda *_: {0: 7, 1: 5})
    monitor = health.LagMonitor(Settings(), ["classify"])
    console = ConsoleSummary(["classify"], 10, monitor.latest)
    monitor.measure(admin=None, consumer=None)
    assert "lag 12" in console.render()


def alert(n: int) -> Alert:
    return Alert(
        id=f"a{n}", incident_id="i", rule="r", key="ticker:ACME", status="firing",
        window_start=T0, window_end=T0 + timedelta(minutes=15), observed=12, expected=1.5,
        total=14, ratio=8.0, p_value=1e-7, severity="high", samples=[], created_at=T0,
    )  # fmt: skip


def test_each_alert_event_is_printed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    recent = telemetry.RecentAlerts()
    monkeypatch.setattr(telemetry, "RECENT_ALERTS", recent)
    console = ConsoleSummary([], 10)
    recent.add(alert(1))
    first = console.render()
    second = console.render()
    recent.add(alert(2))
    third = console.render()
    lines: list[Any] = [block.count("ticker:ACME") for block in (first, second, third)]
    assert lines == [1, 0, 1]
