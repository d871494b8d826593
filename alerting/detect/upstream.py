"""Which scored partitions may still receive items from the classifier.

Reading a scored partition to its end does not make it done while a classifier that writes
it is still working through raw records (a second classifier behind the first, one restarted
after a fault). Every classifier member writes ``ScoredProgress`` markers into every scored
partition, after the items before them: which of its raw partitions are busy. The router
reads them from the data it consumes and holds busy partitions back (``finsent.align``), so
the detectors never close windows that items are still on their way to. The raw and scored
topics are both keyed by item id: with equal partition counts, scored partition p is written
from raw partition p only; otherwise any busy raw partition marks every scored one busy.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from finsent.schemas import ScoredProgress

STALE_S = 30.0
"""A report older than this (three classifier heartbeats) is no longer trusted: busy."""


class UpstreamProgress:
    """The latest report on each raw partition, from the markers read so far.

    Reports are ordered by the writer's consumer-group generation first (one owner per
    partition and generation, so a new owner's report beats the old owner's whatever their
    clocks say), then by time. A partition whose last report is stale (its classifier
    stopped reporting) counts as busy; one never reported on (no classifier writes markers)
    does not.
    """

    def __init__(self, scored_partitions: int, clock: Callable[[], datetime] | None = None) -> None:
        self.scored_partitions = scored_partitions
        self.raw_partitions: int | None = None
        self.reports: dict[int, tuple[int, datetime, bool]] = {}
        """raw partition -> (generation, when reported, busy)."""
        self.clock = clock or (lambda: datetime.now(UTC))

    def update(self, marker: ScoredProgress) -> None:
        """One marker (markers reach every scored partition: the newest report wins)."""
        self.raw_partitions = marker.raw_partitions
        for partition, busy in [(p, True) for p in marker.busy] + [(p, False) for p in marker.idle]:
            current = self.reports.get(partition)
            if current is None or current[:2] <= (marker.generation, marker.sent_at):
                self.reports[partition] = (marker.generation, marker.sent_at, busy)

    def busy(self, tp: Any) -> bool:
        """Items for this scored partition may still come from a classifier."""
        stale = self.clock() - timedelta(seconds=STALE_S)
        busy_raw = {p for p, (_, at, busy) in self.reports.items() if busy or at < stale}
        if not busy_raw:
            return False
        if self.raw_partitions == self.scored_partitions:
            return int(tp.partition) in busy_raw
        return True
