"""One apscheduler job per source.

Each job has its own interval and jitter, never overlaps itself, and backs off exponentially
(capped) while its source fails.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from finsent.backoff import backoff_s
from ingest.service import Ingestor


class IngestScheduler:
    """Runs ``Ingestor.poll`` for every source on its schedule until stopped."""

    def __init__(self, ingestor: Ingestor) -> None:
        self.ingestor = ingestor
        self.scheduler = BackgroundScheduler(timezone=UTC)

    def backoff_s(self, name: str) -> float:
        """Delay before retrying a failing source: interval x 2^(failures-1), capped, jittered.

        The consecutive failures are the ingestor's own count (``SourceHealth``).
        """
        interval = self.ingestor.configs[name].interval_s
        cap = self.ingestor.settings.ingest.max_backoff_s
        return backoff_s(self.ingestor.failures(name), interval, cap, floor=0.5)

    def _run(self, name: str) -> None:
        run = self.ingestor.poll(name)
        if run.error:
            job = self.scheduler.get_job(name)
            if job is not None:
                job.modify(
                    next_run_time=datetime.now(UTC) + timedelta(seconds=self.backoff_s(name))
                )

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

    def stop(self) -> None:
        """Wait for running polls to finish, then stop."""
        self.scheduler.shutdown(wait=True)
