"""The ingest stage for the daemon: scheduled polling of every configured source."""

from __future__ import annotations

import threading

from finsent.config import Settings
from ingest.scheduler import IngestScheduler
from ingest.service import Ingestor


class IngestStage:
    """Ingestor + scheduler behind the daemon's stage lifecycle."""

    name = "ingest"

    def __init__(self, settings: Settings) -> None:
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
        """Let running polls finish, then close."""
        if self.scheduler is not None:
            self.scheduler.stop()
        self.ingestor.close()
