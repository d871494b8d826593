"""Faults: a classifier killed mid-stream, and start-up failures that must name their cause.

Each test is bounded in time and prints the counts it saw.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import yaml

from finsent.config import Settings
from finsent.es import make_client
from finsent.kafka import ensure_topics, make_consumer
from finsent.schemas import WATERMARK_KEY
from tests.cli import FINSENT, finsent
from tests.integration.conftest import isolate
from tests.integration.test_classify_consumer import produce_raw, raw_item
from tests.wait import wait_until


def config_file(settings: Settings, unique: str, tmp_path: Path, tiny_model_dir: Path) -> Path:
    document = {
        "kafka": {"topics": settings.kafka.topics.model_dump()},
        "elasticsearch": {"index_prefix": unique},
        "classifier": {"group_id": f"{unique}-classify", "model_dir": str(tiny_model_dir),
                       "device": "cpu", "max_batch_items": 16},
        "daemon": {"stages": ["classify", "index"], "http_port": 0},
    }  # fmt: skip
    path = tmp_path / "finsent.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def indexed(settings: Settings, unique: str) -> int:
    es = make_client(settings.elasticsearch)
    if not es.indices.exists(index=f"{unique}-items"):
        return 0
    es.indices.refresh(index=f"{unique}-items")
    return int(es.count(index=f"{unique}-items")["count"])


def test_classifier_killed_mid_stream_every_item_indexed_once(
    settings: Settings, unique: str, tmp_path: Path, tiny_model_dir: Path
) -> None:
    config = isolate(settings, unique)
    ensure_topics(config.kafka)
    items = [raw_item(i) for i in range(600)]
    produce_raw(config, items)
    path = config_file(config, unique, tmp_path, tiny_model_dir)
    first = subprocess.Popen([FINSENT, "run", "-c", str(path)], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 120
    while indexed(config, unique) < 50 and time.monotonic() < deadline:
        time.sleep(0.2)
    before_kill = indexed(config, unique)
    os.kill(first.pid, signal.SIGKILL)  # no drain, no commit
    first.wait(10)
    second = subprocess.Popen([FINSENT, "run", "-c", str(path)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)  # fmt: skip
    try:

        def all_indexed() -> int | None:
            count = indexed(config, unique)
            return count if count >= len(items) else None

        after = wait_until(all_indexed, max(1.0, deadline - time.monotonic()),
                           "every item indexed after the restart", interval_s=0.5)  # fmt: skip
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(60)
    consumer = make_consumer(
        config.kafka, None, config.kafka.topics.scored, consumer_timeout_ms=3000
    )
    scored = [r.key for r in consumer if r.key != WATERMARK_KEY]  # not the progress markers
    consumer.close()
    print(f"\nraw {len(items)}; indexed before kill -9 {before_kill}; scored records "
          f"{len(scored)} ({len(set(scored))} distinct, replays after the kill "
          f"{len(scored) - len(set(scored))}); indexed after restart {after}")  # fmt: skip
    assert 0 < before_kill < len(items), "killed mid-stream"
    assert len(set(scored)) == len(items), "every item scored"
    assert after == len(items), "every item exactly once in Elasticsearch"
    assert second.returncode == 0


def test_start_up_failures_name_their_cause(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("alerting:\n  window_s: 0\n")
    result = finsent("run", "-c", str(bad))
    assert result.returncode == 2 and "alerting.window_s" in result.stderr
    missing = tmp_path / "missing.yaml"
    missing.write_text(f"classifier:\n  model_dir: {tmp_path / 'nope'}\n")
    result = finsent("classify", "-c", str(missing), timeout=120)
    assert result.returncode == 2 and "not a finsent model folder" in result.stderr
    env = dict(os.environ, FINSENT_KAFKA__BOOTSTRAP_SERVERS='["127.0.0.1:1"]',
               FINSENT_KAFKA__REQUEST_TIMEOUT_MS="3000")  # fmt: skip
    started = time.monotonic()
    result = finsent("run", env=env, timeout=120)
    print(f"\nunreachable Kafka: exit {result.returncode} after {time.monotonic() - started:.1f} s: "
          f"{result.stderr.strip().splitlines()[-1] if result.stderr.strip() else ''}")  # fmt: skip
    assert result.returncode == 1 and "Kafka at ['127.0.0.1:1'] is not usable" in result.stderr
    for output in (result.stderr,):
        assert "Traceback" not in output
