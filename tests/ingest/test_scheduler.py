"""One job per source, no overlapping runs of a job, capped exponential backoff."""

import threading
import time
from pathlib import Path

from finsent.config import Settings
from finsent.config_sources import RssSourceConfig
from ingest.scheduler import IngestScheduler
from ingest.service import Ingestor, SourceHealth, SourceRun
from ingest.testing import ListProducer
from tests.wait import wait_until

from .conftest import DATA, FeedServer

CNBC = DATA / "feeds" / "real_captures" / "cnbc_international_top_news_2026-03.xml"


def test_jobs_never_overlap_and_failures_back_off(feed_server: FeedServer, tmp_path: Path) -> None:
    good = feed_server.serve("/good", CNBC.read_bytes(), delay_s=0.3)  # slower than its interval
    bad = feed_server.serve("/bad", b"", status=503)
    settings = Settings(
        ingest={
            "state_path": tmp_path / "s.db",
            "max_backoff_s": 0.8,
            "sources": [
                RssSourceConfig(
                    name="good", url=good, interval_s=0.1, jitter_s=0, allow_private_network=True
                ),
                RssSourceConfig(
                    name="bad", url=bad, interval_s=0.1, jitter_s=0, allow_private_network=True
                ),
            ],
        }
    )
    ingestor = Ingestor(settings, ListProducer())  # type: ignore[arg-type]
    ingestor.setup()
    active: dict[str, int] = {"good": 0, "bad": 0}
    most: dict[str, int] = {"good": 0, "bad": 0}
    calls: dict[str, list[float]] = {"good": [], "bad": []}
    lock = threading.Lock()
    real_poll = ingestor.poll

    def tracked(name: str) -> SourceRun:
        with lock:
            active[name] += 1
            most[name] = max(most[name], active[name])
            calls[name].append(time.monotonic())
        try:
            return real_poll(name)
        finally:
            with lock:
                active[name] -= 1

    ingestor.poll = tracked  # type: ignore[method-assign]
    scheduler = IngestScheduler(ingestor)
    scheduler.start()
    wait_until(lambda: len(calls["good"]) >= 5 and ingestor.failures("bad") >= 2, 20,
               "five good polls and two consecutive failures")  # fmt: skip
    wait_until(lambda: len(calls["bad"]) >= 4, 20, "backed-off retries of the failing source")
    scheduler.stop()
    ingestor.close()

    assert most == {"good": 1, "bad": 1}, "max_instances=1: a job never overlaps itself"
    assert len(calls["good"]) >= 5
    gaps = [b - a for a, b in zip(calls["bad"], calls["bad"][1:], strict=False)]
    assert gaps and max(gaps) >= 0.35, f"backoff spaced the failing polls: {gaps}"
    assert len(calls["bad"]) < len(calls["good"]) + 10
    assert ingestor.failures("bad") >= 2


def test_backoff_is_capped(tmp_path: Path) -> None:
    settings = Settings(ingest={"state_path": tmp_path / "s.db", "max_backoff_s": 60})
    ingestor = Ingestor(settings, ListProducer())  # type: ignore[arg-type]
    ingestor.configs["x"] = RssSourceConfig(name="x", url="https://x", interval_s=10)
    scheduler = IngestScheduler(ingestor)
    ingestor.health["x"] = SourceHealth(failures=1)
    assert 5 <= scheduler.backoff_s("x") <= 10
    ingestor.health["x"].failures = 3
    assert 20 <= scheduler.backoff_s("x") <= 40
    ingestor.health["x"].failures = 30
    assert 30 <= scheduler.backoff_s("x") <= 60


def test_stop_during_a_failing_fetch_neither_deadlocks_nor_waits_for_it(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    # The poll fails (503) while the scheduler shuts down: the old job then asked the
    # scheduler to reschedule it and deadlocked with the shutdown that waited for it.
    stuck = feed_server.serve("/stuck", b"busy", status=503, delay_s=1.0)
    settings = Settings(ingest={
        "state_path": tmp_path / "s.db",
        "sources": [RssSourceConfig(name="stuck", url=stuck, interval_s=60, jitter_s=0,
                                    allow_private_network=True, timeout_s=30)],
    })  # fmt: skip
    ingestor = Ingestor(settings, ListProducer())  # type: ignore[arg-type]
    ingestor.setup()
    scheduler = IngestScheduler(ingestor)
    scheduler.start()
    wait_until(lambda: feed_server.requests, 10, "the fetch to start")
    finished: list[bool] = []
    stopping = threading.Thread(target=lambda: finished.append(scheduler.stop(timeout_s=10)))
    started = time.monotonic()
    stopping.start()
    stopping.join(15)
    assert not stopping.is_alive(), "stop() deadlocked"
    assert finished == [True], "the cancelled poll finished"
    assert time.monotonic() - started < 1.0, "the fetch was cancelled, not waited for"
    ingestor.close()
