"""The ingest stage for the daemon: scheduled polling of every configured source."""

from __future__ import annotations

import threading

from finsent.config import Settings
from finsent.logs import get_logger
from ingest.scheduler import IngestScheduler
from ingest.service import Ingestor


class IngestStage:
    """Ingestor + scheduler behind the daemon's stage lifecycle."""

    name = "ingest"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.log = get_logger("ingest")
        self.ingestor = Ingestor(settings)
        self.scheduler: IngestScheduler | None = None

    def setup(self) -> None:
        """Open state and producer, set up sources, start their jobs."""
        self.ingestor.setup()
        self.scheduler = IngestScheduler(self.ingestor)
        self.scheduler.start()

    def run(self, stop: threading.Event) -> None:
        """Polls run on the scheduler's threads; wait for the stop signal."""
        stop.wait()

    def close(self) -> None:
        """Cancel the polls in progress, wait for them (bounded), then close."""
        if self.scheduler is not None:
            wait_s = self.settings.daemon.shutdown_timeout_s / 2
            if not self.scheduler.stop(wait_s):
                self.log.warning("polls still running at shutdown", waited_s=wait_s)
        self.ingestor.close()
