"""The low watermark of a keyed partition: how far every scored partition has been routed.

Entries of one key may come from any scored partition, through any router. A window may
only close once every scored partition has moved past it, or a router that is behind (a
backlog, a restart) would see its entries dropped as late. Progress per scored partition
comes from the entries themselves and from the routers' markers; caught-up, empty
partitions do not hold the others back. With no scored partition busy, the watermark is
the furthest progress seen (the stream has paused; what came in may close).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from finsent.schemas import KeyedItem, KeyedWatermark


class InputProgress:
    """Progress of each scored partition as seen from one keyed partition."""

    def __init__(self, origins: int) -> None:
        self.origins = origins
        self.progress: dict[int, datetime] = {}
        self.idle: set[int] = set()

    def _advance(self, origin: int, at: datetime) -> None:
        current = self.progress.get(origin)
        self.progress[origin] = at if current is None else max(current, at)

    def saw(self, entry: KeyedItem) -> None:
        """An entry routed from ``entry.origin`` (routers release in event-time order)."""
        if entry.origin is None:
            return
        self._advance(entry.origin, entry.published_at)
        self.idle.discard(entry.origin)

    def marker(self, marker: KeyedWatermark) -> None:
        """A router's report on the scored partitions it owns.

        The router releases in event-time order, so every partition it owns, busy or idle,
        is at least at its progress.
        """
        for origin in marker.busy + marker.idle:
            if marker.progress is not None:
                self._advance(origin, marker.progress)
        self.idle.difference_update(marker.busy)
        self.idle.update(marker.idle)

    def low(self) -> datetime | None:
        """The time every busy scored partition has passed, or None (someone not heard from)."""
        busy = [o for o in range(self.origins) if o not in self.idle]
        if not busy:
            return max(self.progress.values(), default=None)
        if any(o not in self.progress for o in busy):
            return None
        return min(self.progress[o] for o in busy)

    def to_json(self) -> dict[str, Any]:
        """JSON-able state."""
        return {
            "progress": {str(o): t.isoformat() for o, t in self.progress.items()},
            "idle": sorted(self.idle),
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Inverse of ``to_json``."""
        self.progress = {int(o): datetime.fromisoformat(t) for o, t in state["progress"].items()}
        self.idle = set(state["idle"])
