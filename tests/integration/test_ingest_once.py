"""`finsent ingest --once` against a local server of the shared fixtures, into the real Kafka."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import yaml

from finsent.config import Settings
from finsent.kafka import make_consumer
from finsent.schemas import RawItem, decode
from tests.cli import FINSENT
from tests.ingest.conftest import DATA, FeedServer

CAPTURES = DATA / "feeds" / "real_captures"


def ingest_once(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [FINSENT, "ingest", "--once", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_ingest_once_puts_each_unique_item_once(
    settings: Settings, unique: str, tmp_path: Path, feed_server: FeedServer
) -> None:
    cnbc = (CAPTURES / "cnbc_international_top_news_2026-03.xml").read_bytes()
    sources: list[dict[str, object]] = [
        {"type": "rss", "name": "cnbc", "url": feed_server.serve("/cnbc", cnbc)},
        {"type": "rss", "name": "wsj", "url": feed_server.serve("/wsj", (CAPTURES / "wsj_world_news_2021-10.xml").read_bytes())},
        {"type": "rss", "name": "empty", "url": feed_server.serve("/empty", b"")},
        {"type": "stocktwits", "name": "st", "url": feed_server.serve(
            "/st.json", (DATA / "comments" / "stocktwits" / "api2_streams_symbol_AAPL_2020-01-05.json").read_bytes())},
    ]  # fmt: skip
    for source in sources:
        source["allow_private_network"] = True
    config = tmp_path / "finsent.yaml"
    config.write_text(yaml.safe_dump({
        "kafka": {"topics": {"raw": f"{unique}.raw"}},
        "ingest": {"state_path": str(tmp_path / "state.sqlite3"), "sources": sources},
        "logging": {"format": "json"},
    }))  # fmt: skip

    first = ingest_once(config)
    assert first.returncode == 1, "one source (the empty body) failed, the others carried on"
    assert "cnbc: 30 new" in first.stdout
    assert "wsj: 6 new" in first.stdout
    assert "empty: 0 new, 0 duplicate, error empty_body" in first.stdout
    second = ingest_once(config)
    assert "cnbc: 0 new, 30 duplicate" in second.stdout

    consumer = make_consumer(settings.kafka, None, f"{unique}.raw")
    items: list[RawItem] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        batch = consumer.poll(timeout_ms=1000)
        if not batch and items:
            break
        items += [decode(RawItem, r.value) for records in batch.values() for r in records]
    consumer.close()
    stream_messages = 2
    assert len(items) == 30 + 6 + stream_messages
    assert len({i.id for i in items}) == len(items), "exactly once"
