"""Faults: Elasticsearch stopped for 30 s while items flow; the Kafka broker restarted during
ingest. The servers are the session's real ones, stopped and started again by the test.

Each test is bounded in time and prints the counts it saw.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import yaml

from finsent.config import Settings
from finsent.health import LagMonitor
from finsent.kafka import ensure_topics, make_admin, make_consumer, make_producer
from finsent.schemas import RawItem, decode, encode
from finsent.stack.elasticsearch_server import LocalElasticsearch
from finsent.stack.kafka_server import LocalKafka
from finsent.stack.manager import Stack
from tests.cli import FINSENT
from tests.integration.conftest import isolate, read_topic
from tests.integration.test_classify_consumer import raw_item
from tests.reliability.test_faults import config_file, indexed


@contextmanager
def running(path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`finsent run -c path`, drained with SIGTERM at the end."""
    process = subprocess.Popen([FINSENT, "run", "-c", str(path)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()


@contextmanager
def restored(settings: Settings) -> Iterator[None]:
    """Whatever a test stops, the rest of the session gets its servers back."""
    try:
        yield
    finally:
        Stack(settings, say=lambda _: None).up()


def wait_for(condition: Callable[[], bool], timeout_s: float, step_s: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step_s)
    return condition()


class LagSampler(threading.Thread):
    """Consumer lag of the index stage once a second: [(seconds since start, lag)]."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(daemon=True)
        self.settings = settings
        self.monitor = LagMonitor(settings, ["index"])
        self.samples: list[tuple[float, int]] = []
        self.stop = threading.Event()
        self.started_at = time.monotonic()

    def run(self) -> None:
        admin = consumer = None
        while not self.stop.is_set():
            try:
                if admin is None:
                    admin = make_admin(self.settings.kafka)
                    consumer = make_consumer(self.settings.kafka, None)
                lag = self.monitor.measure(admin, consumer)["index"]
                self.samples.append((time.monotonic() - self.started_at, lag))
            except Exception:  # noqa: BLE001 - a sample missed while a server is away
                pass
            self.stop.wait(1.0)
        for client in (admin, consumer):
            if client is not None:
                client.close()

    def between(self, start: float, end: float) -> list[int]:
        return [lag for t, lag in self.samples if start <= t <= end]


def test_elasticsearch_down_30s_nothing_lost_and_lag_recovers(
    settings: Settings, unique: str, tmp_path: Path, tiny_model_dir: Path
) -> None:
    config = isolate(settings, unique)
    ensure_topics(config.kafka)
    path = config_file(config, unique, tmp_path, tiny_model_dir)
    rate, produced = 20, []
    stop_producing = threading.Event()

    def produce() -> None:  # a steady 20 items/s until told to stop
        producer = make_producer(config.kafka)
        i, next_at = 0, time.monotonic()
        while not stop_producing.is_set():
            item = raw_item(i)
            producer.send(config.kafka.topics.raw, key=item.id.encode(), value=encode(item))
            produced.append(item.id)
            i, next_at = i + 1, next_at + 1 / rate
            time.sleep(max(0.0, next_at - time.monotonic()))
        producer.flush(30)
        producer.close()

    elasticsearch = LocalElasticsearch(config)
    lags = LagSampler(config)
    feeder = threading.Thread(target=produce, daemon=True)
    with restored(config), running(path):
        lags.start()
        feeder.start()
        assert wait_for(lambda: indexed(config, unique) > 0, 120), "the pipeline starts"
        time.sleep(15)  # steady state
        steady_end = time.monotonic() - lags.started_at
        elasticsearch.stop()
        stopped_at = time.monotonic()
        time.sleep(30)
        Stack(config, say=lambda _: None).up()
        back_at = time.monotonic() - lags.started_at
        restart_s = time.monotonic() - stopped_at - 30
        time.sleep(30)  # items keep flowing while the backlog drains
        stop_producing.set()
        feeder.join(60)
        assert wait_for(lambda: indexed(config, unique) >= len(produced), 120)
        time.sleep(2)
        total = indexed(config, unique)
        lags.stop.set()
        lags.join(10)
    before = max(lags.between(steady_end - 10, steady_end))
    peak = max(lags.between(steady_end, back_at + 30))
    recovered = next(
        (t for t, lag in lags.samples if t > back_at and lag <= before + 2 * rate), None
    )
    dead = read_topic(config, config.kafka.topics.deadletter)
    print(f"\nproduced {len(produced)} at {rate}/s; Elasticsearch down 30 s (+{restart_s:.0f} s "
          f"to restart); index lag before {before}, peak {peak}, back to <= {before + 2 * rate} "
          f"{(recovered - back_at) if recovered else float('nan'):.0f} s after Elasticsearch "
          f"returned; indexed {total}; dead-lettered {len(dead)}")  # fmt: skip
    assert total == len(produced), "every item indexed, one document per item"
    assert not dead
    assert peak > before + 30 * rate * 0.5, "the outage built a backlog"
    assert recovered is not None, "the lag returned to its level before, items still flowing"


def test_kafka_restart_during_ingest_nothing_lost(
    settings: Settings, unique: str, tmp_path: Path, tiny_model_dir: Path
) -> None:
    config = isolate(settings, unique)
    ensure_topics(config.kafka)
    count = 400
    recording = tmp_path / "items.jsonl"
    items = [  # one a minute; replayed 600x faster: ~40 s of ingest
        raw_item(i).model_copy(update={"published_at": raw_item(i).published_at
                                       + timedelta(minutes=i)})
        for i in range(count)
    ]  # fmt: skip
    recording.write_bytes(b"\n".join(encode(i) for i in items) + b"\n")
    path = config_file(config, unique, tmp_path, tiny_model_dir)
    document = yaml.safe_load(path.read_text())
    document["daemon"]["stages"] = ["ingest", "classify", "index"]
    document["ingest"] = {
        "state_path": str(tmp_path / "ingest.sqlite3"),
        "sources": [{"type": "replay", "name": "replay", "paths": [str(recording)],
                     "speed": 600, "interval_s": 1, "jitter_s": 0}],
    }  # fmt: skip
    path.write_text(yaml.safe_dump(document))
    kafka = LocalKafka(config)
    with restored(config), running(path):
        assert wait_for(lambda: indexed(config, unique) >= 40, 120), "ingest under way"
        before = indexed(config, unique)
        started = time.monotonic()
        kafka.stop()
        time.sleep(5)
        Stack(config, say=lambda _: None).up()
        down_s = time.monotonic() - started
        assert wait_for(lambda: indexed(config, unique) >= count, 180), (
            f"indexed {indexed(config, unique)} of {count}"
        )
        time.sleep(2)
        total = indexed(config, unique)
    raw = read_topic(config, config.kafka.topics.raw)
    ids = {i.id for i in items}
    seen = {decode(RawItem, value).id for value in raw}
    print(f"\nreplayed {count}; indexed before the broker stopped {before}; broker away "
          f"{down_s:.0f} s; raw records {len(raw)} ({len(seen)} distinct); indexed {total}")  # fmt: skip
    assert 0 < before < count, "the broker restarted mid-ingest"
    assert seen == ids, "every item reached the raw topic"
    assert total == count, "and was indexed once"
