"""`finsent run` end to end: a replay with a negative burst about one ticker -> Kafka ->
BERT -> Elasticsearch -> one alert for that ticker, none for the controls, one signed
webhook delivery per alert event."""

from __future__ import annotations

import csv
import signal
import subprocess
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from alerting.testing import WebhookReceiver
from finsent.config import Settings
from finsent.datadir import data_dir
from finsent.es import make_client
from finsent.schemas import Alert, RawItem, decode, encode
from tests.cli import FINSENT
from tests.integration.conftest import isolate, read_topic
from tests.wait import wait_until

DATA = data_dir()
TARGET, CONTROLS = "NFLX", ("KO", "PG", "JNJ")
SECRET = "e2e-webhook-secret"
WINDOWS = 120  # of 15 min


def texts(label: str, count: int, skip: int = 0) -> list[str]:
    """Real tweets of one label (0 bearish, 2 neutral) without cashtags or links."""
    rows = csv.DictReader((DATA / "twitter_financial_news_sentiment" / "sent_train.csv").open())
    found = [r["text"] for r in rows if r["label"] == label and "$" not in r["text"]
             and "http" not in r["text"] and len(r["text"]) > 40]  # fmt: skip
    return found[skip : skip + count]


def replay_file(path: Path) -> list[RawItem]:
    """30 h of quiet neutral news for four tickers (a key alerts after a day of history), and
    18 bearish stories about one of them."""
    start = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    quiet = iter(texts("2", 8 * WINDOWS))
    items: list[RawItem] = []

    def add(at: datetime, ticker: str, text: str) -> None:
        items.append(RawItem(
            id=f"e2e-{len(items)}", source="e2e-wire", kind="news", title=text, url=f"https://e2e/{len(items)}",
            published_at=at, fetched_at=at, symbols=[ticker],
        ))  # fmt: skip

    for window in range(WINDOWS):
        for t, ticker in enumerate((TARGET, *CONTROLS)):
            for k in range(2):
                add(start + timedelta(minutes=15 * window + 5 * k + t), ticker, next(quiet))
        if window == WINDOWS - 3:
            for k, text in enumerate(texts("0", 18)):
                add(start + timedelta(minutes=15 * window + 1, seconds=15 * k), TARGET, text)
    items.sort(key=lambda i: i.published_at)
    path.write_text("\n".join(encode(i).decode() for i in items) + "\n")
    return items


def test_run_replay_to_alert_and_webhook(settings: Settings, unique: str, tmp_path: Path) -> None:
    items = replay_file(tmp_path / "replay.jsonl")
    config = isolate(settings, unique)
    with WebhookReceiver(secret=SECRET) as receiver:
        document = {
            "kafka": {"topics": config.kafka.topics.model_dump()},
            "elasticsearch": {"index_prefix": unique},
            "classifier": {"group_id": f"{unique}-classify", "device": "cpu"},
            "ingest": {"state_path": str(tmp_path / "ingest.sqlite3"), "sources": [{
                "type": "replay", "name": "e2e", "paths": [str(tmp_path / "replay.jsonl")],
                "speed": 0, "shift_to_now": True, "interval_s": 3600,
            }]},
            "alerting": {"group_id": f"{unique}-alert", "lateness_s": 60,
                         "outbox_path": str(tmp_path / "outbox.sqlite3"),
                         "webhooks": [{"name": "risk", "url": receiver.url, "secret": SECRET}]},
            "daemon": {"http_port": 0, "shutdown_timeout_s": 30},
        }  # fmt: skip
        path = tmp_path / "finsent.yaml"
        path.write_text(yaml.safe_dump(document))
        process = subprocess.Popen(
            [FINSENT, "run", "-c", str(path)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True,
        )  # fmt: skip
        es = make_client(config.elasticsearch)

        def alerts() -> list[Alert]:
            return [decode(Alert, v) for v in read_topic(config, config.kafka.topics.alerts)]

        try:
            deadline = time.monotonic() + 240
            fired: list[Alert] = []
            while time.monotonic() < deadline and process.poll() is None:
                fired = alerts()
                if any(a.key == f"ticker:{TARGET}" for a in fired) and \
                        len(receiver.delivered) >= len({a.id for a in fired}):  # fmt: skip
                    break
                time.sleep(2)

            def delivered() -> list[Alert] | None:
                now = alerts()  # later events (escalations) and their deliveries land too
                return now if len(receiver.delivered) >= len({a.id for a in now}) else None

            fired = wait_until(delivered, 60, "a delivery for every alert event")
            es.indices.refresh(index=f"{unique}-items")
            indexed = es.count(index=f"{unique}-items")["count"]
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                output, _ = process.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                output, _ = process.communicate()
    raw = read_topic(config, config.kafka.topics.raw)
    scored = read_topic(config, config.kafka.topics.scored)
    events = Counter((a.key, a.status) for a in fired)
    keys = [r.headers["idempotency-key"] for r in receiver.delivered]
    print(f"\nreplay {len(items)} items -> raw {len(raw)}, scored {len(scored)}, indexed {indexed}; "
          f"alert events {dict(events)}; webhook deliveries {len(keys)}")  # fmt: skip
    assert process.returncode == 0, output[-3000:]
    assert len(raw) == len(items) and len(scored) == len(items)
    assert indexed == len(items), "every item exactly once in Elasticsearch"
    assert events[(f"ticker:{TARGET}", "firing")] == 1, output[-3000:]
    assert not any(key == f"ticker:{c}" for c in CONTROLS for key, _ in events)
    assert sorted(keys) == sorted({a.id for a in fired}), "one delivery per alert event"
    assert all(r.verified for r in receiver.requests)
    # the operator's views of the same run: the alert tail and the report image
    tail = subprocess.Popen([FINSENT, "alerts", "tail", "--json", "--last", "100", "-c", str(path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    lines: list[str] = []

    def read_tail() -> None:
        assert tail.stdout is not None
        for line in tail.stdout:
            lines.append(line)

    reader = threading.Thread(target=read_tail, daemon=True)
    reader.start()
    wait_until(lambda: len(lines) >= len(fired), 60, "the tail to print every alert event")
    tail.send_signal(signal.SIGINT)
    tail.wait(30)
    reader.join(10)
    errors = tail.stderr.read() if tail.stderr is not None else ""
    assert {decode(Alert, line).id for line in lines} == {a.id for a in fired}, errors
    image = tmp_path / "report.png"
    result = subprocess.run([FINSENT, "report", "--since", "24h", "-o", str(image), "-c", str(path)],
                            capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "alerts marked" in result.stdout and " 0 alerts marked" not in result.stdout
    print(result.stdout.strip())
