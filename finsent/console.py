"""A live summary on stdout for people watching `finsent run`: rates, lag, latest alerts."""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

from prometheus_client import REGISTRY

from finsent import telemetry

STAGE_COUNTERS = {
    "ingest": ("finsent_ingest_items_total", {"status": "new"}),
    "classify": ("finsent_stage_records_total", {"stage": "classify"}),
    "index": ("finsent_stage_records_total", {"stage": "index"}),
    "alert": ("finsent_stage_records_total", {"stage": "alert-router"}),
    "deliver": ("finsent_stage_records_total", {"stage": "deliver"}),
}


def _total(name: str, labels: dict[str, str]) -> float:
    """Sum of a counter's samples matching some labels."""
    total = 0.0
    for metric in REGISTRY.collect():
        for sample in metric.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


class ConsoleSummary:
    """Prints one block every ``interval_s``."""

    def __init__(
        self, stages: list[str], interval_s: float, lags: dict[str, int] | None = None,
        out: TextIO | None = None,
    ) -> None:  # fmt: skip
        self.stages = stages
        self.interval_s = interval_s
        self.lags = lags if lags is not None else {}
        self.out = out or sys.stdout
        self.last = {s: _total(*STAGE_COUNTERS[s]) for s in stages}
        self.last_at = time.monotonic()
        self.shown: set[str] = set()  # alert event ids already printed

    def render(self) -> str:
        """The current block."""
        now = time.monotonic()
        elapsed = max(now - self.last_at, 1e-6)
        rates = []
        for stage in self.stages:
            total = _total(*STAGE_COUNTERS[stage])
            lag = self.lags.get(stage)
            shown = f"{stage} {(total - self.last[stage]) / elapsed:6.1f}/s ({total:.0f})"
            rates.append(shown + (f" lag {lag}" if lag is not None else ""))
            self.last[stage] = total
        self.last_at = now
        lines = [f"[finsent {time.strftime('%H:%M:%S')}] " + " | ".join(rates)]
        recent = telemetry.RECENT_ALERTS.latest()
        self.shown &= {alert.id for alert in recent}  # bounded: what can still come round
        for alert in recent:
            if alert.id in self.shown:
                continue  # each event once, not again every interval
            self.shown.add(alert.id)
            lines.append(
                f"  {alert.status:<9} {alert.severity:<8} {alert.key:<26} "
                f"{alert.observed:g} negative vs {alert.expected:.1f} expected "
                f"(x{alert.ratio:.1f}, p={alert.p_value:.1e}) window {alert.window_start:%H:%M}Z"
            )
        return "\n".join(lines)

    def run(self, stop: threading.Event) -> None:
        """Print until stopped."""
        while not stop.wait(self.interval_s):
            print(self.render(), file=self.out, flush=True)
