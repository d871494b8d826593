"""Ingest benchmark, one core, figures side by side from one run.

(a) JSON replay (parsed items + comment payloads) normalised and produced to the real Kafka:
    items/s (target >= 2,000).
(b) RSS captures: our fetch-free path (parse + normalise + dedupe + produce) against
    feedparser's parse alone on the same bytes (target <= 1.5x feedparser's time).
(c) Peak RSS with seen-id state and HTTP validators for 10,000 feeds.

    .venv/bin/python bench/bench_ingest.py [--json]     (needs `finsent stack up`)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import feedparser

from finsent.config import Settings
from finsent.config_sources import ReplaySourceConfig
from finsent.datadir import data_dir
from finsent.kafka import ensure_topics
from ingest.items import ItemFactory
from ingest.privacy import AuthorPseudonymiser
from ingest.producer import ItemProducer
from ingest.service import Ingestor
from ingest.sources.base import SourceContext
from ingest.sources.replay import (
    ReplaySource,
    load_recording,
)
from ingest.state import StateStore

ROOT = Path(__file__).resolve().parent.parent
DATA = data_dir()


def replay_throughput(settings: Settings, rounds: int) -> dict[str, float]:
    """Normalise + produce the JSON recordings ``rounds`` times (fresh ids each round)."""
    files = sorted((DATA / "feeds" / "parsed_items").glob("*.jsonc")) + sorted(
        (DATA / "comments").rglob("*.json")
    )
    producer = ItemProducer(settings.kafka)
    pseudonymise = AuthorPseudonymiser(b"bench-key")
    count = 0
    started = time.perf_counter()
    for round_number in range(rounds):
        factory = ItemFactory(f"bench-{round_number}", "news", pseudonymise)
        now = datetime.now(UTC)
        items = [r.item for f in files for r in load_recording(f, factory, now)]
        count += len(producer.send(items))
    seconds = time.perf_counter() - started
    producer.close()
    return {"items": count, "seconds": seconds, "items_per_s": count / seconds}


def rss_ratio(settings: Settings, rounds: int) -> dict[str, float]:
    """feedparser alone vs our fetch-free path on the same capture files.

    Ours is the product path of `finsent replay`: a replay source over the RSS captures,
    polled by the Ingestor (parse + normalise + de-duplicate against the state store +
    produce, acknowledged before the ids are recorded).
    """
    files = [p for p in sorted((DATA / "feeds" / "real_captures").glob("*.xml"))
             + sorted((DATA / "feeds" / "aggregator").glob("*.xml")) if p.stat().st_size]  # fmt: skip
    bodies = [p.read_bytes() for p in files]
    started = time.perf_counter()
    for _ in range(rounds):
        for body in bodies:
            feedparser.parse(body)
    baseline = time.perf_counter() - started

    produced = 0
    with tempfile.TemporaryDirectory() as tmp:
        config = settings.model_copy(deep=True)
        config.ingest.state_path = Path(tmp) / "state.sqlite3"
        ingestor = Ingestor(config)
        ingestor.setup([])
        started = time.perf_counter()
        for round_number in range(rounds):
            name = f"rss-{round_number}"
            source = ReplaySource(ReplaySourceConfig(name=name, paths=files))
            factory = ItemFactory(name, "news", AuthorPseudonymiser(b"bench-key"))
            source.setup(SourceContext(ingestor.state, factory))  # type: ignore[arg-type]
            ingestor.sources[name] = source
            ingestor.configs[name] = source.config
            produced += ingestor.poll(name).new
        ours = time.perf_counter() - started
        ingestor.close()
    return {"feedparser_s": baseline, "ours_s": ours, "ratio": ours / baseline, "items": produced}


def state_memory(feeds: int) -> dict[str, float]:
    """Peak RSS after holding validators and 50 seen ids for each of ``feeds`` feeds."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with tempfile.TemporaryDirectory() as tmp:
        state = StateStore(Path(tmp) / "s.db", max_seen=feeds * 50)
        for feed in range(feeds):
            state.put(
                f"source:feed{feed}",
                {"etag": f'"{uuid.uuid4().hex}"', "last_modified": "Mon, 02 Mar 2026 10:00:00 GMT"},
            )
            state.mark_seen(f"{feed}-{i}-{uuid.uuid4().hex[:8]}" for i in range(50))
        seen = state.seen_count()
        state.close()
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"feeds": feeds, "seen_ids": seen, "peak_rss_mb": after, "rss_growth_mb": after - before}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    settings = Settings()
    topic = f"bench.{uuid.uuid4().hex[:8]}.raw"
    settings.kafka.topics.raw = topic
    ensure_topics(settings.kafka, [topic])
    result = {
        "replay": replay_throughput(settings, args.rounds),
        "rss": rss_ratio(settings, args.rounds),
        "state": state_memory(10_000),
    }
    if args.json:
        print(json.dumps(result))
        return
    replay, rss, state = result["replay"], result["rss"], result["state"]
    print(
        f"(a) JSON replay -> Kafka: {replay['items']} items in {replay['seconds']:.2f}s = {replay['items_per_s']:.0f} items/s (target >= 2000)"
    )
    print(
        f"(b) RSS: feedparser alone {rss['feedparser_s']:.3f}s, ours (parse+normalise+dedupe+produce) {rss['ours_s']:.3f}s = {rss['ratio']:.2f}x (target <= 1.5x)"
    )
    print(
        f"(c) state for {state['feeds']} feeds, {state['seen_ids']} seen ids: peak RSS {state['peak_rss_mb']:.0f} MB (+{state['rss_growth_mb']:.0f} MB)"
    )


if __name__ == "__main__":
    main()
