"""End to end on this machine: Kafka -> classify -> Elasticsearch, default model and config.

One run, same texts (real finance tweets from the shared data), figures side by side:
(a) reference: the classifier engine alone on those texts, in this process (items/s);
(b) sustained: N items waiting on the raw topic, `finsent run` (classify + index) drains
    them: items/s between 10 % and 90 % indexed, and the ratio to (a), i.e. what Kafka,
    JSON, tagging and Elasticsearch cost around the model (target >= 150 items/s);
(c) latency: a steady 50 items/s for 60 s, `fetched_at` set when produced; p50/p99 of
    ``indexed_at - fetched_at`` (target p99 < 5 s) and the consumer lag every second,
    bounded or growing;
(d) with ``--scale-out``: the same stream with alerting, once with one process (one
    classifier, one alert worker) and once with two (two classifiers with one thread each,
    two alert workers) on 4-partition topics: the same documents, the same alerts, and the
    throughput ratio.

    .venv/bin/python bench/e2e.py [--items 6000] [--scale-out] [--json]   (starts the stack)
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from alerting.detect.rules import load_rules
from alerting.tools.backtest import backtest
from classifier.consumer import item_text
from classifier.engine import Engine
from classifier.paths import SHIPPED
from finsent.config import Settings, load_settings
from finsent.datadir import data_dir
from finsent.es import make_client
from finsent.health import LagMonitor
from finsent.kafka import ensure_topics, make_admin, make_consumer, make_producer
from finsent.schemas import WATERMARK_KEY, Alert, RawItem, ScoredItem, decode, encode
from finsent.stack.manager import Stack

ROOT = Path(__file__).resolve().parent.parent
DATA = data_dir()
FINSENT = str(ROOT / ".venv" / "bin" / "finsent")
BURST = ROOT / "deploy" / "replay" / "boeing_burst.jsonl"


def say(line: str) -> None:
    print(f"[bench {datetime.now(UTC):%H:%M:%S}] {line}", file=sys.stderr, flush=True)


def tweets(count: int, seed: int = 11) -> list[str]:
    """Real finance tweets (sentiment and topic training files), a fixed sample."""
    rows: list[str] = []
    for path in (
        DATA / "twitter_financial_news_sentiment" / "sent_train.csv",
        DATA / "twitter_financial_news_topic" / "topic_train.csv",
    ):
        with path.open(encoding="utf-8", newline="") as handle:
            rows += [r["text"] for r in csv.DictReader(handle)]
    return random.Random(seed).sample(rows, count)


def items_of(texts: list[str], source: str, at: datetime | None = None) -> list[RawItem]:
    now = at or datetime.now(UTC)
    return [
        RawItem(id=f"{source}-{i}", source=source, kind="news", title=text,
                url=f"https://bench.invalid/{source}/{i}", published_at=now, fetched_at=now)
        for i, text in enumerate(texts)
    ]  # fmt: skip


def namespaced(base: Settings, name: str, **classifier: Any) -> tuple[Settings, dict[str, Any]]:
    """Settings and a config document whose topics, indices and groups are this run's own."""
    topics = base.kafka.topics.model_copy(
        update={f: f"{name}.{f}" for f in base.kafka.topics.model_dump()}
    )
    settings = base.model_copy(
        update={
            "kafka": base.kafka.model_copy(update={"topics": topics}),
            "elasticsearch": base.elasticsearch.model_copy(update={"index_prefix": name}),
            "classifier": base.classifier.model_copy(update={"group_id": f"{name}-classify"}),
            "alerting": base.alerting.model_copy(update={"group_id": f"{name}-alert"}),
        }
    )
    document = {
        "kafka": {"topics": topics.model_dump()},
        "elasticsearch": {"index_prefix": name},
        "classifier": {"group_id": f"{name}-classify"} | classifier,
        "alerting": {"group_id": f"{name}-alert", "lateness_s": 60},
        "daemon": {"stages": ["classify", "index"], "http_port": 0, "summary_interval_s": 0},
    }
    return settings, document


def produce(settings: Settings, items: list[RawItem]) -> None:
    producer = make_producer(settings.kafka)
    for item in items:
        producer.send(settings.kafka.topics.raw, key=item.id.encode(), value=encode(item))
    producer.flush(60)
    producer.close()


class Watcher(threading.Thread):
    """Every second: documents indexed and consumer lag per stage, with the time."""

    def __init__(self, settings: Settings, stages: list[str]) -> None:
        super().__init__(daemon=True)
        self.settings, self.stop = settings, threading.Event()
        self.es = make_client(settings.elasticsearch)
        self.lag = LagMonitor(settings, stages)
        self.samples: list[tuple[float, int, dict[str, int]]] = []
        self.t0 = time.monotonic()

    def indexed(self) -> int:
        index = f"{self.settings.elasticsearch.index_prefix}-items"
        try:
            self.es.indices.refresh(index=index)
            return int(self.es.count(index=index)["count"])
        except Exception:  # noqa: BLE001 - not created yet
            return 0

    def run(self) -> None:
        admin = make_admin(self.settings.kafka)
        consumer = make_consumer(self.settings.kafka, None)
        while not self.stop.is_set():
            lags = self.lag.measure(admin, consumer)
            self.samples.append((time.monotonic() - self.t0, self.indexed(), lags))
            self.stop.wait(1.0)
        admin.close()
        consumer.close()

    def reached(self, total: int) -> bool:
        """The latest sample counts ``total`` documents."""
        return bool(self.samples) and self.samples[-1][1] >= total

    def wait(self, condition: Callable[[], bool], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() > deadline:
                last = self.samples[-1] if self.samples else None
                raise SystemExit(f"bench: timed out after {timeout_s:.0f} s; last sample {last}")
            time.sleep(0.5)

    def rate(self, total: int) -> float:
        """Items/s between 10 % and 90 % of ``total`` indexed."""
        low = next(t for t, n, _ in self.samples if n >= 0.1 * total)
        high = next(t for t, n, _ in self.samples if n >= 0.9 * total)
        return 0.8 * total / max(high - low, 1e-9)


def quiet_for(settings: Settings, topic: str, quiet_s: float, timeout_s: float) -> None:
    """Wait until no record has been added to a topic for ``quiet_s`` (windows left open
    close on the idle wall clock, so the last alert events come after the last item)."""
    from kafka import TopicPartition

    consumer = make_consumer(settings.kafka, None)
    partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
    deadline, last, since = time.monotonic() + timeout_s, -1, time.monotonic()
    while time.monotonic() < deadline:
        count = sum(consumer.end_offsets(partitions).values())
        if count != last:
            last, since = count, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            break
        time.sleep(2)
    consumer.close()


def read_all(settings: Settings, topic: str) -> list[bytes]:
    """Every record value of a topic (no group), progress markers left out."""
    consumer = make_consumer(settings.kafka, None, topic, consumer_timeout_ms=3000)
    values = [r.value for r in consumer if r.key != WATERMARK_KEY]
    consumer.close()
    return values


def start(document: dict[str, Any], folder: Path, name: str) -> subprocess.Popen[bytes]:
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(document))
    log = (folder / f"{name}.log").open("wb")
    return subprocess.Popen([FINSENT, "run", "-c", str(path)], stdout=log, stderr=log)


def stop(*processes: subprocess.Popen[bytes]) -> None:
    for process in processes:
        process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()


def reference(texts: list[str]) -> tuple[float, float]:
    """Items/s of the engine alone on the texts, as the classify stage configures it: all
    texts in one call, and in rounds of the size the consumer releases under a backlog
    (each round is sorted by length on its own, so a round pads more than the whole set)."""
    from classifier.consumer import RELEASE

    defaults = Settings().classifier
    engine = Engine.from_folder(SHIPPED, device=defaults.device,
                                precision=defaults.precision)  # fmt: skip
    engine.warm_up(defaults.max_batch_items, defaults.max_batch_tokens)
    rates = []
    for size in (len(texts), RELEASE * defaults.max_batch_items):
        started = time.perf_counter()
        for start in range(0, len(texts), size):
            engine.predict(texts[start : start + size], defaults.max_batch_items,
                           defaults.max_batch_tokens)  # fmt: skip
        rates.append(len(texts) / (time.perf_counter() - started))
    return rates[0], rates[1]


def latencies(settings: Settings, source: str) -> list[float]:
    """``indexed_at - fetched_at`` of every document of one source, seconds."""
    es = make_client(settings.elasticsearch)
    index = f"{settings.elasticsearch.index_prefix}-items"
    es.indices.refresh(index=index)
    hits = es.search(index=index, query={"term": {"source": source}}, size=10_000,
                     source_includes=["fetched_at", "indexed_at"])["hits"]["hits"]  # fmt: skip
    out = []
    for hit in hits:
        doc = hit["_source"]
        fetched = datetime.fromisoformat(doc["fetched_at"].replace("Z", "+00:00"))
        indexed = datetime.fromisoformat(doc["indexed_at"].replace("Z", "+00:00"))
        out.append((indexed - fetched).total_seconds())
    return out


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def pipeline(base: Settings, texts: list[str], folder: Path) -> dict[str, Any]:
    """(b) sustained drain of a backlog and (c) latency at a steady 50 items/s."""
    settings, document = namespaced(base, f"bench-{uuid.uuid4().hex[:8]}")
    ensure_topics(settings.kafka)
    produce(settings, items_of(texts, "bench-backlog"))
    watcher = Watcher(settings, ["classify", "index"])
    watcher.start()
    process = start(document, folder, "pipeline")
    say(f"sustained: {len(texts)} items waiting, `finsent run` (classify + index) started")
    try:
        watcher.wait(lambda: watcher.reached(len(texts)), 1800)
        sustained = watcher.rate(len(texts))
        drained_at = time.monotonic() - watcher.t0
        rate, seconds = 50, 60
        say(f"drained at {sustained:.1f} items/s; steady {rate}/s for {seconds} s")
        producer = make_producer(settings.kafka)
        next_at = time.monotonic()
        for i in range(rate * seconds):
            now = datetime.now(UTC)
            item = RawItem(id=f"steady-{i}", source="bench-steady", kind="news",
                           title=texts[i % len(texts)], url=f"https://bench.invalid/steady/{i}",
                           published_at=now, fetched_at=now)  # fmt: skip
            producer.send(settings.kafka.topics.raw, key=item.id.encode(), value=encode(item))
            next_at += 1 / rate
            time.sleep(max(0.0, next_at - time.monotonic()))
        producer.flush(30)
        producer.close()
        watcher.wait(lambda: watcher.reached(len(texts) + rate * seconds), 300)
    finally:
        stop(process)
        watcher.stop.set()
        watcher.join(10)
    steady = latencies(settings, "bench-steady")
    series = [(round(t - drained_at), lags["index"] + lags["classify"])
              for t, _, lags in watcher.samples if t >= drained_at]  # fmt: skip
    half = len(series) // 2
    first, second = [lag for _, lag in series[:half]], [lag for _, lag in series[half:]]
    return {
        "items": len(texts),
        "sustained_items_per_s": sustained,
        "steady_rate_per_s": rate,
        "steady_items": len(steady),
        "latency_p50_s": percentile(steady, 0.50),
        "latency_p99_s": percentile(steady, 0.99),
        "latency_max_s": max(steady),
        "lag_every_5s": [lag for t, lag in series[::5]],
        "lag_bounded": max(second, default=0) <= max(first, default=0) + rate,
    }


def scale_out_items(fillers: int) -> list[RawItem]:
    """The shipped negative-burst replay plus real tweets spread over the same six hours."""
    burst = [decode(RawItem, line) for line in BURST.read_bytes().splitlines() if line.strip()]
    first = min(i.published_at for i in burst)
    span = (max(i.published_at for i in burst) - first).total_seconds()
    rng = random.Random(5)
    extra = items_of(tweets(fillers, seed=23), "bench-fill")
    extra = [
        i.model_copy(update={"published_at": (at := first + timedelta(seconds=rng.random() * span)),
                             "fetched_at": at})
        for i in extra
    ]  # fmt: skip
    return sorted(burst + extra, key=lambda i: i.published_at)


def scale_out(base: Settings, fillers: int, folder: Path) -> dict[str, Any]:
    """(d) one process vs two on 4-partition topics: documents, alerts, throughput."""
    items = scale_out_items(fillers)
    cores = os.cpu_count() or 1
    runs: dict[str, Any] = {}
    for processes in (1, 2):
        name = f"bench-x{processes}-{uuid.uuid4().hex[:6]}"
        threads = max(1, cores // processes)
        settings, document = namespaced(base, name, threads=threads)
        document["daemon"]["stages"] = ["classify", "index", "alert"]
        document["kafka"]["topic_partitions"] = 4
        settings = settings.model_copy(
            update={"kafka": settings.kafka.model_copy(update={"topic_partitions": 4})}
        )
        ensure_topics(settings.kafka)
        produce(settings, items)
        watcher = Watcher(settings, ["classify", "index"])
        watcher.start()
        procs = [start(document, folder, f"{name}-{k}") for k in range(processes)]
        say(f"scale-out: {len(items)} items, {processes} process(es) x {threads} thread(s)")
        try:
            watcher.wait(functools.partial(watcher.reached, len(items)), 1800)
            rate = watcher.rate(len(items))
            quiet_for(settings, settings.kafka.topics.alerts, 30, 600)
        finally:
            stop(*procs)
            watcher.stop.set()
            watcher.join(10)
        es = make_client(settings.elasticsearch)
        hits = es.search(index=f"{name}-items", size=10_000, query={"match_all": {}},
                         source_includes=["sentiment.label", "topic.label"])["hits"]["hits"]  # fmt: skip
        documents = {
            h["_id"]: (h["_source"]["sentiment"]["label"], h["_source"]["topic"]["label"])
            for h in hits
        }
        alerts = [decode(Alert, v) for v in read_all(settings, settings.kafka.topics.alerts)]
        scored = read_all(settings, settings.kafka.topics.scored)
        unique = {i.id: i for i in (decode(ScoredItem, v) for v in scored)}
        ordered = sorted(unique.values(), key=lambda i: i.published_at)
        options = settings.alerting.model_copy(update={"lateness_s": 60})
        expected = backtest(ordered, load_rules(options.rules_file), options.window_s,
                            options.lateness_s)  # fmt: skip
        runs[str(processes)] = {
            "backtest_ids": sorted({a.id for a in expected}),
            "threads_per_process": threads,
            "items_per_s": rate,
            "documents": documents,
            "alert_ids": sorted({a.id for a in alerts}),
            "alert_records": len(alerts),
            "alerts": sorted({f"{a.key} {a.status}" for a in alerts}),
        }
    one, two = runs["1"], runs["2"]
    differing = [k for k in one["documents"] if one["documents"][k] != two["documents"].get(k)]
    return {
        "items": len(items),
        "one_process_items_per_s": one["items_per_s"],
        "two_processes_items_per_s": two["items_per_s"],
        "ratio": two["items_per_s"] / one["items_per_s"],
        "documents": [len(one["documents"]), len(two["documents"])],
        "same_document_ids": set(one["documents"]) == set(two["documents"]),
        "documents_with_other_labels": len(differing),
        "alert_events": [len(one["alert_ids"]), len(two["alert_ids"])],
        "alert_records": [one["alert_records"], two["alert_records"]],
        "same_alerts": one["alert_ids"] == two["alert_ids"],
        "backtest_alert_events": len(one["backtest_ids"]),
        "same_as_backtest": one["alert_ids"] == one["backtest_ids"] == two["backtest_ids"],
        "alerts": one["alerts"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=6000)
    parser.add_argument("--scale-out", action="store_true")
    parser.add_argument("--scale-out-items", type=int, default=3000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    base = load_settings()
    Stack(base, say=lambda _: None).up()
    texts = tweets(args.items)
    result: dict[str, Any] = {"cores": os.cpu_count(), "model": SHIPPED.name}
    say(f"classifier only: {len(texts)} texts")
    whole, rounds = reference([item_text(i) for i in items_of(texts, "r")])
    result["classifier_only_items_per_s"] = whole
    result["classifier_only_in_rounds_items_per_s"] = rounds
    folder = ROOT / ".bench" / f"e2e-{datetime.now(UTC):%Y%m%dT%H%M%S}"
    folder.mkdir(parents=True)
    say(f"configs and logs of the finsent processes: {folder}")
    result |= pipeline(base, texts, folder)
    result["pipeline_vs_classifier_only"] = (
        result["sustained_items_per_s"] / result["classifier_only_items_per_s"]
    )
    result["pipeline_vs_classifier_in_rounds"] = (
        result["sustained_items_per_s"] / result["classifier_only_in_rounds_items_per_s"]
    )
    if args.scale_out:
        result["scale_out"] = scale_out(base, args.scale_out_items, folder)
    if args.json:
        print(json.dumps(result))
        return
    print(f"{result['cores']} cores, model {result['model']} (default configuration)")
    print(
        f"  classifier only (engine, this process)  {result['classifier_only_items_per_s']:8.1f} items/s"
    )
    print(f"    the same, in rounds as the consumer    {result['classifier_only_in_rounds_items_per_s']:8.1f}"
          " items/s (each round sorted by length on its own)")  # fmt: skip
    print(f"  Kafka -> classify -> Elasticsearch       {result['sustained_items_per_s']:8.1f} items/s "
          f"sustained over {result['items']} items ({result['pipeline_vs_classifier_only']:.2f}x "
          f"the classifier alone, {result['pipeline_vs_classifier_in_rounds']:.2f}x in rounds)")  # fmt: skip
    print(f"  at a steady {result['steady_rate_per_s']}/s ({result['steady_items']} items): "
          f"fetched_at -> indexed p50 {result['latency_p50_s']:.2f} s, "
          f"p99 {result['latency_p99_s']:.2f} s, max {result['latency_max_s']:.2f} s")  # fmt: skip
    print(f"  consumer lag every 5 s (classify + index): {result['lag_every_5s']} "
          f"-> {'bounded' if result['lag_bounded'] else 'GROWING'}")  # fmt: skip
    if "scale_out" in result:
        s = result["scale_out"]
        print(f"  scale-out, {s['items']} items, 4 partitions: one process "
              f"{s['one_process_items_per_s']:.1f} items/s, two {s['two_processes_items_per_s']:.1f}"
              f" items/s: ratio {s['ratio']:.2f}x")  # fmt: skip
        print(f"    documents {s['documents']} same ids {s['same_document_ids']}, other labels "
              f"{s['documents_with_other_labels']}; alert events {s['alert_events']} same "
              f"{s['same_alerts']}, as the backtest of the scored items "
              f"({s['backtest_alert_events']} events) {s['same_as_backtest']}: {s['alerts']}")  # fmt: skip


if __name__ == "__main__":
    main()
