"""Surge alerting side by side: finsent's detector against ElastAlert2's spike rule.

Both systems see the same replayed data in the same Elasticsearch, and are scored the same way.

Data (seeded, deterministic): 30 tickers over 3 days of 15-min windows. Each ticker has a
stationary Poisson rate of negative stories (1-6 per window) and of other stories (1-3); half
the tickers get one injected negative surge (rate x 4-6, at least 10 stories) in a known window
of the last day. Stories are spread uniformly inside their window, one ticker per story, and
every story has its own story_id. All items are indexed into daily ``<prefix>-items-*`` indices
(the shipped templates, a fresh random prefix, deleted at the end).

finsent: ``alerting.tools.backtest.backtest`` (the live detector code, by event time) with the shipped
default rules: per-key EWMA baseline (half-life 24 windows, 16 warm-up windows), Poisson test,
``min_count`` 5, ``min_ratio`` 2.5, alpha 1e-5, 900 s windows, 300 s allowed lateness. Its
alert time is ``created_at``: the event time of the item whose arrival fired it.

ElastAlert2 (``elastalert2==2.19.0`` in its own venv, ``.bench/elastalert-venv``, created on
first use: it pins ``elasticsearch==7.10.1``, and imports ``pytz`` without requiring it): the
spike rule a user would write, over the same indices::

    type: spike, index: <prefix>-items-*, timestamp_field: published_at,
    filter: term sentiment.label = negative, query_key: tickers,
    timeframe: 15 min, spike_height: 3, spike_type: up, threshold_cur: 5, alert: debug,
    realert: 0 min (the 1-min default counts wall-clock time; in a replay it would silence
    every later match of a ticker, live it never matters after the spike rule's own reset)

with run_every = buffer_time = 1 min in config.yaml. It runs through ``elastalert-test-rule
--start --end`` (ElastAlert's own backtest), which queries Elasticsearch in buffer_time
segments and slides the rule's windows at each segment end: 1-min segments check the rule as
often as a live ElastAlert with run_every 1 min does (``--elastalert-every 15`` checks every
15 min: fewer alerts, later). A small driver records every alert it would send. ElastAlert
stamps a spike match with the oldest event of the current window; the driver records the event
whose arrival made the spike (the newest event of that window, or the segment end when the
windows sliding made it), the alert time used here, comparable to finsent's ``created_at``.
Live, polling adds up to run_every on top.

Scoring (``ticker:`` keys only for finsent): an alert on a surged ticker in the surge window or
the next one detects the surge (the first one gives the delay: alert time - surge window
start); a later one there is not counted; every other alert is a false alarm, out of
tickers x windows minus the 2 windows per surge. Wall time: finsent's backtest in-process;
ElastAlert's run_rule including its Elasticsearch queries (interpreter start excluded).

    .venv/bin/python bench/bench_alerting.py [--json]     (needs `finsent stack up`)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from alerting.detect.rules import load_rules
from alerting.index.elasticsearch import ElasticsearchSink
from alerting.tools.backtest import backtest
from finsent.config import load_settings
from finsent.es import install_templates, make_client
from finsent.schemas import Prediction, ScoredItem, SentimentPrediction

ROOT = Path(__file__).resolve().parent.parent

T0 = datetime(2026, 3, 2, tzinfo=UTC)
WINDOW = timedelta(seconds=900)
LATENESS_S = 300
DAYS = 3
WINDOWS = 96 * DAYS
TICKERS = 30
EA_VENV = ROOT / ".bench" / "elastalert-venv"
EA_PACKAGES = ("elastalert2==2.19.0", "pytz")  # 2.19.0 imports pytz without requiring it

# Runs in ElastAlert's venv: elastalert-test-rule, recording every alert it would send.
DRIVER = """
import ast, json, sys, time
from elastalert import ruletypes, test_rule
from elastalert.alerters.debug import DebugAlerter

out_path, args = sys.argv[1], sys.argv[2:]
sent = []
add_match, debug_alert = ruletypes.SpikeRule.add_match, DebugAlerter.alert


def recording_add_match(self, match, qk):
    trigger = self.cur_windows[qk].data[-1][0]  # the event whose arrival made the spike
    extra = {"bench_trigger": trigger[self.ts_field].isoformat(), "bench_qk": qk,
             "bench_placeholder": "placeholder" in trigger}
    add_match(self, dict(match, **extra), qk)


def recording_alert(self, matches):
    for m in matches:
        qk = m["bench_qk"]
        key = ast.literal_eval(qk)[0] if qk.startswith("[") else qk
        sent.append({"ticker": key, "at": m["bench_trigger"],
                     "match_ts": str(m[self.rule["timestamp_field"]]),
                     "placeholder": m["bench_placeholder"],
                     "spike_count": m["spike_count"], "reference_count": m["reference_count"]})
    debug_alert(self, matches)


ruletypes.SpikeRule.add_match = recording_add_match
DebugAlerter.alert = recording_alert
started = time.perf_counter()
test_rule.main(args)
seconds = time.perf_counter() - started
with open(out_path, "w") as out:
    json.dump({"seconds": seconds, "alerts": sent}, out)
"""


@dataclass(frozen=True)
class Surge:
    """One injected surge: its ticker, window and negative story count."""

    ticker: str
    window: int
    stories: int
    factor: float

    @property
    def start(self) -> datetime:
        return T0 + self.window * WINDOW


def scored(n: int, at: datetime, ticker: str, negative: bool) -> ScoredItem:
    label = "negative" if negative else "neutral"
    return ScoredItem(
        id=f"bench-{n}", source="wire", kind="news", title=f"{ticker} headline {n}",
        url=f"https://news.example/{n}", published_at=at, fetched_at=at, story_id=f"s{n}",
        tickers=[ticker], topic=Prediction(label="Earnings", scores={"Earnings": 1.0}),
        sentiment=SentimentPrediction(label=label, scores={"negative": 0.9 if negative else 0.05,
                                                           "neutral": 0.05 if negative else 0.9,
                                                           "positive": 0.05}),
        model="bench@1", classified_at=at,
    )  # fmt: skip


def generate(seed: int) -> tuple[list[ScoredItem], list[Surge]]:
    """Items of every ticker in event-time order, and the surges injected."""
    rng = np.random.default_rng(seed)
    tickers = [f"T{i:02d}" for i in range(TICKERS)]
    negative_rate = rng.uniform(1.0, 6.0, size=TICKERS)
    other_rate = rng.uniform(1.0, 3.0, size=TICKERS)
    surged = sorted(rng.choice(TICKERS, size=TICKERS // 2, replace=False).tolist())
    surges: dict[int, Surge] = {}
    for t in surged:  # last day, away from its edges
        window = int(rng.integers(WINDOWS - 96 + 4, WINDOWS - 8))
        factor = float(rng.uniform(4.0, 6.0))
        stories = max(10, int(rng.poisson(negative_rate[t] * factor)))
        surges[t] = Surge(tickers[t], window, stories, round(factor, 2))
    rows: list[tuple[datetime, str, bool]] = []
    for t, ticker in enumerate(tickers):
        for window in range(WINDOWS):
            surge = surges.get(t)
            if surge is not None and surge.window == window:
                negative = surge.stories
            else:
                negative = int(rng.poisson(negative_rate[t]))
            total = negative + int(rng.poisson(other_rate[t]))
            offsets = rng.uniform(0, WINDOW.total_seconds(), size=total)
            start = T0 + window * WINDOW
            rows += [
                (start + timedelta(seconds=float(offsets[i])), ticker, i < negative)
                for i in range(total)
            ]
    rows.sort()
    items = [scored(n, at, ticker, negative) for n, (at, ticker, negative) in enumerate(rows)]
    return items, sorted(surges.values(), key=lambda s: s.ticker)


def index_items(client: Any, prefix: str, items: list[ScoredItem]) -> float:
    """Index everything (shipped templates), refreshed; returns the seconds it took."""
    started = time.perf_counter()
    install_templates(client, prefix)
    sink = ElasticsearchSink(client, prefix)
    for start in range(0, len(items), 5000):
        for item in items[start : start + 5000]:
            sink.add(item)
        result = sink.flush()
        if result.rejected:
            raise RuntimeError(f"indexing rejected: {result.rejected[0].reason}")
    client.indices.refresh(index=f"{prefix}-items-*")
    count = client.count(index=f"{prefix}-items-*")["count"]
    if count != len(items):
        raise RuntimeError(f"indexed {count} documents, expected {len(items)}")
    return time.perf_counter() - started


def drop(client: Any, prefix: str) -> None:
    """Delete the bench's indices (by name: wildcard deletes are refused) and templates."""
    names = list(client.indices.get(index=f"{prefix}-*", allow_no_indices=True))
    if names:
        client.indices.delete(index=",".join(names))
    for name in (f"{prefix}-items", f"{prefix}-alerts"):
        if client.indices.exists_index_template(name=name):
            client.indices.delete_index_template(name=name)


def run_finsent(items: list[ScoredItem]) -> tuple[list[tuple[str, datetime]], float]:
    """Firing alerts on ticker keys, as (ticker, created_at); and the backtest's seconds."""
    rules = load_rules()
    started = time.perf_counter()
    alerts = list(backtest(items, rules, int(WINDOW.total_seconds()), LATENESS_S))
    seconds = time.perf_counter() - started
    fired = [
        (a.key.removeprefix("ticker:"), a.created_at)
        for a in alerts
        if a.status == "firing" and a.key.startswith("ticker:")
    ]
    return fired, seconds


def elastalert_python() -> Path:
    """ElastAlert2's venv (created once; it cannot share the project's elasticsearch client)."""
    python = EA_VENV / "bin" / "python"
    if not (EA_VENV / "bin" / "elastalert-test-rule").exists():
        subprocess.run([sys.executable, "-m", "venv", str(EA_VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", *EA_PACKAGES],
            check=True,
            stdout=sys.stderr,
        )
    return python


def run_elastalert(
    prefix: str, workdir: Path, end: datetime, every_min: int
) -> tuple[list[tuple[str, datetime]], dict[str, Any]]:
    """Alerts of the spike rule as (ticker, trigger time); and facts about the run."""
    host = urlsplit(load_settings().elasticsearch.hosts[0])
    rules_dir = workdir / "rules"
    rules_dir.mkdir()
    config = workdir / "config.yaml"
    config.write_text(
        f"rules_folder: {rules_dir}\n"
        f"es_host: {host.hostname}\n"
        f"es_port: {host.port or 9200}\n"
        f"use_ssl: {str(host.scheme == 'https').lower()}\n"
        f"writeback_index: {prefix}-elastalert\n"
        f"run_every: {{minutes: {every_min}}}\n"
        f"buffer_time: {{minutes: {every_min}}}\n"
        "alert_time_limit: {days: 2}\n"
    )
    rule = rules_dir / "negative-spike.yaml"
    rule.write_text(
        "name: negative-news-spike\n"
        "type: spike\n"
        f"index: {prefix}-items-*\n"
        "timestamp_field: published_at\n"
        "filter:\n"
        "  - term: {sentiment.label: negative}\n"
        "query_key: tickers\n"
        "timeframe: {minutes: 15}\n"
        "spike_height: 3\n"
        "spike_type: up\n"
        "threshold_cur: 5\n"
        "realert: {minutes: 0}\n"
        "alert: debug\n"
    )
    driver = workdir / "driver.py"
    driver.write_text(DRIVER)
    out = workdir / "alerts.json"
    stamp = "%Y-%m-%dT%H:%M:%S"
    command = [str(elastalert_python()), str(driver), str(out), str(rule), "--config", str(config),
               "--start", f"{T0 - timedelta(seconds=1):{stamp}}Z", "--end", f"{end:{stamp}}Z",
               "--stop-error"]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    started = time.perf_counter()
    with (workdir / "elastalert.log").open("w") as log:
        done = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=env, check=False)
    process_s = time.perf_counter() - started
    text = (workdir / "elastalert.log").read_text()
    if done.returncode != 0 or not out.exists() or "Traceback" in text:
        raise RuntimeError(f"elastalert-test-rule failed ({done.returncode}):\n{text[-3000:]}")
    result = json.loads(out.read_text())
    alerts = [(a["ticker"], datetime.fromisoformat(a["at"])) for a in result["alerts"]]
    return alerts, {
        "wall_s": result["seconds"],
        "process_s": process_s,
        "every_min": every_min,
        "made_by_sliding": sum(a["placeholder"] for a in result["alerts"]),
    }


def score(alerts: list[tuple[str, datetime]], surges: list[Surge]) -> dict[str, Any]:
    """Detections, delays (minutes) and false alarms of one system."""
    by_ticker = {s.ticker: s for s in surges}
    first: dict[str, float] = {}
    false_alarms = 0
    for ticker, at in sorted(alerts, key=lambda a: a[1]):
        surge = by_ticker.get(ticker)
        if surge is not None and surge.start <= at < surge.start + 2 * WINDOW:
            first.setdefault(ticker, (at - surge.start).total_seconds() / 60)
        else:
            false_alarms += 1
    delays = sorted(first.values())
    return {
        "surges": len(surges),
        "detected": len(delays),
        "median_delay_min": statistics.median(delays) if delays else None,
        "p90_delay_min": float(np.percentile(delays, 90)) if delays else None,
        "false_alarms": false_alarms,
        "ticker_windows": TICKERS * WINDOWS - 2 * len(surges),
        "alerts": len(alerts),
        "delays_min": {t: round(d, 2) for t, d in sorted(first.items())},
    }


def table(rows: dict[str, dict[str, Any]]) -> str:
    def minutes(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f}"

    header = (
        f"{'system':<38} {'surges':>6} {'detected':>8} {'median delay':>12} {'p90 delay':>10} "
        f"{'false alarms':>21} {'wall':>7}"
    )
    lines = [header, "-" * len(header)]
    for name, r in rows.items():
        false = f"{r['false_alarms']} / {r['ticker_windows']}"
        lines.append(
            f"{name:<38} {r['surges']:>6} {r['detected']:>8} "
            f"{minutes(r['median_delay_min']) + ' min':>12} "
            f"{minutes(r['p90_delay_min']) + ' min':>10} {false:>21} {r['wall_s']:>6.2f}s"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--elastalert-every", type=int, default=1, help="ElastAlert run_every, minutes (1)"
    )
    args = parser.parse_args()
    items, surges = generate(args.seed)
    client = make_client(load_settings().elasticsearch)
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    try:
        index_s = index_items(client, prefix, items)
        fired, finsent_s = run_finsent(items)
        end = max(i.published_at for i in items) + 2 * WINDOW
        with tempfile.TemporaryDirectory() as tmp:
            matched, facts = run_elastalert(prefix, Path(tmp), end, args.elastalert_every)
    finally:
        drop(client, prefix)
    rows = {
        "finsent (EWMA baseline + Poisson test)": score(fired, surges) | {"wall_s": finsent_s},
        f"ElastAlert2 spike rule, every {args.elastalert_every} min": score(matched, surges)
        | facts,
    }
    data = {
        "items": len(items),
        "negative": sum(i.sentiment.label == "negative" for i in items),
        "tickers": TICKERS,
        "windows": WINDOWS,
        "seed": args.seed,
        "index_s": index_s,
        "surges": [asdict(s) | {"start": s.start.isoformat()} for s in surges],
    }
    if args.json:
        print(json.dumps({"data": data, "systems": rows}))
        return
    print(
        f"{data['items']} items ({data['negative']} negative), {TICKERS} tickers x {WINDOWS} "
        f"windows of 15 min, {len(surges)} injected surges; indexed in {index_s:.1f}s"
    )
    print(table(rows))
    print(
        "delay: event time of the alert - surge window start; false alarms: alerts outside "
        "the surge window and the next, over ticker-windows"
    )


if __name__ == "__main__":
    main()
