"""The alert stage: the router (scored -> keyed) and a detector worker (keyed -> alerts).

Both are consumer-group members, so N processes running this stage share the work; they
take turns in one thread (each poll is short), which keeps the stage a single unit to
supervise and stop.
"""

from __future__ import annotations

import threading

from alerting.detect.router import AlertRouter
from alerting.detect.worker import DetectorWorker
from finsent.config import Settings
from finsent.kafka import ensure_topics
from finsent.logs import get_logger

STAGE = "alert"


class AlertStage:
    """Router + detector worker."""

    name = STAGE

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.log = get_logger(STAGE)
        self.router = AlertRouter(settings)
        self.worker = DetectorWorker(settings)  # loads and validates the rules

    def setup(self) -> None:
        """Create the topics it needs (idempotent), join both groups."""
        topics = self.settings.kafka.topics
        ensure_topics(
            self.settings.kafka,
            [topics.scored, topics.keyed, topics.alert_state, topics.alerts, topics.deadletter],
        )
        self.router.setup()
        self.worker.setup()

    def run_once(self) -> int:
        """One router poll and one detector poll."""
        return self.router.run_once() + self.worker.run_once()

    def run(self, stop: threading.Event) -> None:
        """Route and detect until stopped."""
        while not stop.is_set():
            self.run_once()

    def close(self) -> None:
        """Checkpoint the detectors, leave both groups."""
        try:
            self.worker.close()
        finally:
            self.router.close()
