"""`finsent stack` through its console script, as a user runs it."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import yaml

from finsent.config import Settings
from finsent.stack.process import ManagedProcess
from tests.cli import FINSENT


def finsent(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [FINSENT, *args], capture_output=True, text=True, timeout=300, env=env, check=False
    )


def test_status_reports_both_healthy(settings: Settings) -> None:
    result = finsent("stack", "status")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("kafka") and " healthy " in line for line in lines), lines
    assert any(line.startswith("elasticsearch") and " healthy " in line for line in lines)


def test_up_is_idempotent(settings: Settings) -> None:
    before = finsent("stack", "status").stdout
    started = time.monotonic()
    result = finsent("stack", "up")
    assert result.returncode == 0, result.stderr
    assert "kafka: already running" in result.stderr
    assert "elasticsearch: already running" in result.stderr
    assert time.monotonic() - started < 30
    assert finsent("stack", "status").stdout == before, "same processes, nothing restarted"


def test_separate_kafka_up_down_leaves_no_process(tmp_path: Path, settings: Settings) -> None:
    """A second, Kafka-only stack on other ports: ES points elsewhere, so it is left alone."""
    config = tmp_path / "finsent.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "kafka": {"bootstrap_servers": ["127.0.0.1:19092"]},
                "elasticsearch": {"hosts": ["https://es.invalid:9200"]},
                "stack": {
                    "dir": str(tmp_path / "stack"),
                    "cache_dir": str(settings.stack.cache_dir),
                    "kafka_controller_port": 19093,
                    "kafka_heap_mb": 256,
                    "startup_timeout_s": 120,
                },
            }
        )
    )
    env = dict(os.environ)
    up = finsent("stack", "up", "-c", str(config), env=env)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        assert "elasticsearch: external, not started" in up.stderr
        assert "kafka: ready after" in up.stderr
        pid = int((tmp_path / "stack" / "kafka" / "kafka.pid").read_text())
        status = finsent("stack", "status", "-c", str(config))
        assert "external, not managed" in status.stdout
    finally:
        down = finsent("stack", "down", "-c", str(config))
    assert down.returncode == 0, down.stderr
    assert "kafka: stopped" in down.stderr
    probe = ManagedProcess("kafka", tmp_path / "x.pid", tmp_path / "x.log", "x")
    assert not probe.group_alive(pid), "no process of the stack is left"
    shutil.rmtree(tmp_path / "stack", ignore_errors=True)


def test_occupied_port_is_a_clear_error(tmp_path: Path, settings: Settings) -> None:
    """The main stack's Kafka port is taken: a second stack there refuses to start."""
    config = tmp_path / "finsent.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "elasticsearch": {"hosts": ["https://es.invalid:9200"]},
                "kafka": {"bootstrap_servers": ["127.0.0.1:9092"]},
                "stack": {
                    "dir": str(tmp_path / "other"),
                    "cache_dir": str(settings.stack.cache_dir),
                },
            }
        )
    )
    # Status sees the healthy broker (it is someone else's), so `up` leaves it alone...
    assert "kafka: already running" in finsent("stack", "up", "-c", str(config)).stderr
