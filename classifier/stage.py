"""The classify stage for the daemon and `finsent classify`."""

from __future__ import annotations

import threading

from classifier.consumer import ClassifyConsumer
from classifier.engine import Engine
from classifier.entities import TickerTagger
from classifier.paths import SHIPPED
from finsent.config import Settings
from finsent.logs import get_logger


class ClassifyStage:
    """Model (warmed up) + consumer group member."""

    name = "classify"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.consumer: ClassifyConsumer | None = None
        self.log = get_logger("classify")

    def setup(self) -> None:
        """Load and warm the model (OOM at boot, not mid-stream), then join the group."""
        options = self.settings.classifier
        engine = Engine.from_folder(
            options.model_dir or SHIPPED,
            device=options.device,
            max_length=options.max_length,
            precision=options.precision,
            threads=options.threads,
        )
        engine.warm_up(options.max_batch_items, options.max_batch_tokens)
        self.log.info("model ready", model=engine.spec.tag, device=str(engine.device),
                      precision=engine.precision, why=engine.precision_reason)  # fmt: skip
        self.consumer = ClassifyConsumer(self.settings, engine, TickerTagger())
        self.consumer.setup()

    def run(self, stop: threading.Event) -> None:
        """Consume until stopped; each batch is committed after its outputs."""
        assert self.consumer is not None
        self.consumer.run(stop)

    def close(self) -> None:
        """Leave the group."""
        if self.consumer is not None:
            self.consumer.close()
