"""Which scored partitions still have classifier work pending upstream.

Reading a scored partition to its end does not make it done while the classifier that
writes it is still working through raw records (a second classifier behind the first, one
restarted after a fault). The router holds such partitions back and does not report them
idle, so the detectors never close windows that items are still on their way to. The raw
topic and the scored topic are both keyed by item id: with equal partition counts, scored
partition p is written from raw partition p only; otherwise any raw lag marks every scored
partition busy.
"""

from __future__ import annotations

import time
from typing import Any

from finsent.config import Settings
from finsent.kafka import group_lag, make_admin
from finsent.logs import get_logger

REFRESH_S = 1.0


class UpstreamWatch:
    """The classify group's lag per raw partition, refreshed at most every ``REFRESH_S``."""

    def __init__(self, settings: Settings, consumer: Any) -> None:
        self.settings = settings
        self.consumer = consumer
        self.log = get_logger("alert")
        self.admin: Any = None
        self.busy_raw: set[int] = set()
        self.same_partitioning = False
        self.checked = 0.0
        self.failing = False

    def refresh(self) -> None:
        """Re-read the classify group's committed offsets and the raw topic's end offsets."""
        now = time.monotonic()
        if now - self.checked < REFRESH_S:
            return
        self.checked = now
        topics, group = self.settings.kafka.topics, self.settings.classifier.group_id
        try:
            if self.admin is None:
                self.admin = make_admin(self.settings.kafka)
            lag = group_lag(self.admin, self.consumer, group, topics.raw)
            scored = self.consumer.partitions_for_topic(topics.scored) or set()
        except Exception as exc:  # noqa: BLE001 - no such right, Kafka away: align as before
            if not self.failing:
                self.log.warning("classifier lag unknown", error=f"{type(exc).__name__}: {exc}")
            self.failing, self.busy_raw = True, set()
            return
        self.failing = False
        self.busy_raw = {partition for partition, pending in lag.items() if pending > 0}
        self.same_partitioning = len(lag) == len(scored)

    def busy(self, tp: Any) -> bool:
        """Records for this scored partition may still come from the classifier."""
        if not self.busy_raw:
            return False
        return tp.partition in self.busy_raw if self.same_partitioning else True

    def close(self) -> None:
        """Close the admin client."""
        if self.admin is not None:
            self.admin.close()
