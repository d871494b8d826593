"""Liveness, readiness and consumer lag of the daemon, served over HTTP.

``/healthz``: 200 while the process serves requests and no stage is stuck crashing.
``/readyz``: 200 when every stage finished its setup (so the model is loaded and warm) and
Kafka and Elasticsearch answer; 503 with a JSON reason otherwise.
``/metrics``: Prometheus text format (every metric is prefixed ``finsent_``).
Consumer lag per stage group is refreshed by a background thread.
"""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from finsent import telemetry
from finsent.config import Settings
from finsent.logs import get_logger

Check = Callable[[], str | None]  # None = fine, else why not


def stage_groups(settings: Settings) -> dict[str, list[tuple[str, str]]]:
    """(consumer group, topic) of each stage, for lag."""
    topics = settings.kafka.topics
    alert = settings.alerting.group_id
    return {
        "classify": [(settings.classifier.group_id, topics.raw)],
        "index": [(f"{settings.elasticsearch.index_prefix}-index", topics.scored)],
        "alert": [(f"{alert}-router", topics.scored), (alert, topics.keyed)],
        "deliver": [(f"{alert}-deliver", topics.alerts)],
    }


class Health:
    """Stage states (set by the supervisor) and dependency checks (cached)."""

    def __init__(self, stages: list[str], checks: dict[str, Check] | None = None) -> None:
        self.states = dict.fromkeys(stages, "starting")
        self.checks = checks or {}
        self._cache: tuple[float, dict[str, str]] = (0.0, {})
        self._lock = threading.Lock()

    def set(self, stage: str, state: str) -> None:
        """Starting | running | crashed | stopped."""
        with self._lock:
            self.states[stage] = state
        telemetry.STAGE_UP.labels(stage).set(1 if state == "running" else 0)

    def problems(self) -> dict[str, str]:
        """What keeps the daemon from being ready (empty when ready)."""
        with self._lock:
            found = {f"stage {s}": st for s, st in self.states.items() if st != "running"}
        stamp, cached = self._cache
        if time.monotonic() - stamp > 5:
            cached = {}
            for name, check in self.checks.items():
                try:
                    reason = check()
                except Exception as exc:  # noqa: BLE001 - a failing check is a reason
                    reason = f"{type(exc).__name__}: {exc}"
                if reason:
                    cached[name] = reason
            self._cache = (time.monotonic(), cached)
        return found | cached

    def alive(self) -> bool:
        """False only when every stage is crashing."""
        with self._lock:
            return not self.states or any(s != "crashed" for s in self.states.values())


class HealthServer:
    """A small threaded HTTP server for the three endpoints."""

    def __init__(self, health: Health, host: str, port: int) -> None:
        self.health = health
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, body, kind = owner.respond(self.path.split("?")[0])
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="health", daemon=True)

    @property
    def port(self) -> int:
        """The bound port (useful with port 0)."""
        return int(self.server.server_address[1])

    def respond(self, path: str) -> tuple[int, bytes, str]:
        """Status, body and content type for a path."""
        if path == "/metrics":
            return 200, generate_latest(), CONTENT_TYPE_LATEST
        if path == "/healthz":
            ok = self.health.alive()
            alive = {"status": "ok" if ok else "failing", "stages": self.health.states}
            return (200 if ok else 503), json.dumps(alive).encode(), "application/json"
        if path == "/readyz":
            problems = self.health.problems()
            ready = {"ready": not problems, "problems": problems}
            return (503 if problems else 200), json.dumps(ready).encode(), "application/json"
        return 404, b'{"error": "not found"}', "application/json"

    def start(self) -> None:
        """Serve in the background."""
        self.thread.start()

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


class LagMonitor:
    """Refreshes ``finsent_consumer_lag`` for the stages of this process."""

    def __init__(self, settings: Settings, stages: list[str], interval_s: float = 10.0) -> None:
        self.settings = settings
        self.groups = {s: g for s, g in stage_groups(settings).items() if s in stages}
        self.interval_s = interval_s
        self.log = get_logger("health")
        self.latest: dict[str, int] = {}

    def measure(self, admin: Any, consumer: Any) -> dict[str, int]:
        """Lag per stage (sum over its groups and partitions)."""
        from finsent.kafka import group_lag

        lags: dict[str, int] = {}
        for stage, pairs in self.groups.items():
            total = 0
            for group, topic in pairs:
                lag = sum(group_lag(admin, consumer, group, topic).values())
                telemetry.CONSUMER_LAG.labels(stage, topic).set(lag)
                total += lag
            lags[stage] = total
        self.latest.clear()  # in place: the console summary holds this very dict
        self.latest.update(lags)
        return lags

    def run(self, stop: threading.Event) -> None:
        """Measure every ``interval_s`` until stopped (errors are logged, not fatal)."""
        from finsent.kafka import make_admin, make_consumer

        admin = consumer = None
        while not stop.is_set():
            try:
                if admin is None:
                    admin = make_admin(self.settings.kafka)
                    consumer = make_consumer(self.settings.kafka, None)
                self.measure(admin, consumer)
            except Exception as exc:  # noqa: BLE001 - Kafka down: report, retry later
                self.log.warning("lag not measured", error=f"{type(exc).__name__}: {exc}")
            stop.wait(self.interval_s)
        for client in (admin, consumer):
            if client is not None:
                client.close()
