"""kill -9 the alert worker during a surge: after a restart, no duplicate and no missed alert."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import yaml

from alerting.detect.rules import load_rules
from alerting.tools.backtest import backtest
from finsent.config import Settings
from finsent.kafka import ensure_topics
from tests.cli import FINSENT
from tests.integration.conftest import isolate
from tests.integration.test_alerting_pipeline import produce, recording, topic_alerts


def test_alert_worker_killed_during_a_surge(
    settings: Settings, unique: str, tmp_path: Path
) -> None:
    items = recording()
    config = isolate(settings, unique, wall_clock=False, window_s=900, lateness_s=120,
                     checkpoint_interval_s=0.5)  # fmt: skip
    ensure_topics(config.kafka)
    expected = {a.id for a in backtest(items, load_rules(), 900, 120)
                if a.window_end <= items[-1].published_at}  # fmt: skip
    path = tmp_path / "finsent.yaml"
    path.write_text(yaml.safe_dump({
        "kafka": {"topics": config.kafka.topics.model_dump()},
        "alerting": {"group_id": f"{unique}-alert", "wall_clock": False, "lateness_s": 120,
                     "checkpoint_interval_s": 0.5},
    }))  # fmt: skip
    burst = [i for i, item in enumerate(items) if item.published_at.day == 3
             and item.published_at.hour == 0 and item.published_at.second == 30]  # fmt: skip
    cut = burst[len(burst) // 2]  # the stream pauses in the middle of the burst
    produce(config, items[:cut])
    worker = subprocess.Popen([FINSENT, "alert", "-c", str(path)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 150
    while not any(a.key == "ticker:ACME" for a in topic_alerts(config)) \
            and time.monotonic() < deadline:  # fmt: skip
        time.sleep(1)
    fired_before = len(topic_alerts(config))
    os.kill(worker.pid, signal.SIGKILL)  # mid-surge, no checkpoint
    worker.wait(10)
    produce(config, items[cut:])
    deadline = time.monotonic() + 150
    restarted = subprocess.Popen([FINSENT, "alert", "-c", str(path)], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        while {a.id for a in topic_alerts(config)} != expected and time.monotonic() < deadline:
            time.sleep(2)
    finally:
        restarted.send_signal(signal.SIGTERM)
        restarted.wait(60)
    events = topic_alerts(config)
    ids = [a.id for a in events]
    print(f"\nexpected {len(expected)} alert events; before kill -9 {fired_before}; on the topic "
          f"after restart {len(ids)} ({len(set(ids))} distinct)")  # fmt: skip
    assert fired_before >= 1
    assert set(ids) == expected, "no missed and no extra alert"
    assert len(ids) - len(set(ids)) <= fired_before, "only replays of pre-crash events repeat"
