"""One apscheduler job per source.

Each job has its own interval and jitter, never overlaps itself, and backs off exponentially
(capped) while its source fails.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from finsent.backoff import backoff_s
from ingest.service import Ingestor


class IngestScheduler:
    """Runs ``Ingestor.poll`` for every source on its schedule until stopped.

    Jobs never call the scheduler back: a failing source backs off by skipping its ticks
    until its resume time, so ``stop`` cannot deadlock with a job that finishes during the
    shutdown (APScheduler's shutdown holds the job-store lock while it waits for jobs).
    """

    def __init__(self, ingestor: Ingestor) -> None:
        self.ingestor = ingestor
        self.scheduler = BackgroundScheduler(timezone=UTC)
        self.resume_at: dict[str, float] = {}
        self.running = 0
        self._idle = threading.Condition()

    def backoff_s(self, name: str) -> float:
        """Delay before retrying a failing source: interval x 2^(failures-1), capped, jittered.

        The consecutive failures are the ingestor's own count (``SourceHealth``).
        """
        interval = self.ingestor.configs[name].interval_s
        cap = self.ingestor.settings.ingest.max_backoff_s
        return backoff_s(self.ingestor.failures(name), interval, cap, floor=0.5)

    def _run(self, name: str) -> None:
        if time.monotonic() < self.resume_at.get(name, 0.0):
            return  # backing off after failures
        with self._idle:
            self.running += 1
        try:
            run = self.ingestor.poll(name)
            if run.error:
                self.resume_at[name] = time.monotonic() + self.backoff_s(name)
            else:
                self.resume_at.pop(name, None)
        finally:
            with self._idle:
                self.running -= 1
                self._idle.notify_all()

    def start(self) -> None:
        """Schedule every source, first poll now."""
        for name in self.ingestor.sources:
            config = self.ingestor.configs[name]
            self.scheduler.add_job(
                self._run,
                IntervalTrigger(seconds=config.interval_s, jitter=config.jitter_s or None),
                args=[name],
                id=name,
                max_instances=1,
                coalesce=True,
                next_run_time=datetime.now(UTC),
            )
        self.scheduler.start()

    def stop(self, timeout_s: float = 30.0) -> bool:
        """No new polls; cancel the fetches in progress; wait for them, at most ``timeout_s``.

        Returns True when every poll had finished (False: still running at the deadline).
        """
        self.scheduler.shutdown(wait=False)
        self.ingestor.cancel()
        deadline = time.monotonic() + timeout_s
        with self._idle:
            while self.running and (left := deadline - time.monotonic()) > 0:
                self._idle.wait(left)
            return self.running == 0
