"""Alert events in Elasticsearch: ``{prefix}-alerts``, ``_id`` = event id.

The outcome of each webhook delivery is recorded on the event's document.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from elasticsearch import ConflictError, Elasticsearch, NotFoundError

from finsent.schemas import Alert


def alerts_index(prefix: str) -> str:
    """The alerts index (matched by the alerts template)."""
    return f"{prefix}-alerts"


class AlertStore:
    """Create alert documents once; record delivery outcomes on them."""

    def __init__(self, client: Elasticsearch, prefix: str) -> None:
        self.client = client
        self.index = alerts_index(prefix)

    def create(self, alert: Alert) -> bool:
        """Index the event; False when a document with its id already exists (a replay)."""
        try:
            # no refresh wait: the conflict check and ``deliveries`` (GET) are real-time
            self.client.create(
                index=self.index, id=alert.id, document=alert.model_dump(mode="json")
            )
        except ConflictError:
            return False
        return True

    def deliveries(self, alert_id: str) -> dict[str, dict[str, Any]]:
        """Recorded outcomes by endpoint name."""
        try:
            doc = self.client.get(index=self.index, id=alert_id, source_includes=["deliveries"])
        except NotFoundError:
            return {}
        return {d["endpoint"]: d for d in doc["_source"].get("deliveries") or []}

    def record_delivery(
        self,
        alert_id: str,
        endpoint: str,
        status: str,
        attempts: int,
        last_status: int | None,
        last_error: str | None,
    ) -> None:
        """Replace the endpoint's outcome on the event's document."""
        outcome = {
            "endpoint": endpoint, "status": status, "attempts": attempts,
            "last_status": last_status, "last_error": last_error,
            "updated_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        }  # fmt: skip
        # Read-modify-write with optimistic concurrency: no scripting needed (the minimal
        # distribution has no painless), and a concurrent writer makes us retry, not clobber.
        for _ in range(5):
            doc = self.client.get(index=self.index, id=alert_id, source_includes=["deliveries"])
            kept = [d for d in doc["_source"].get("deliveries") or [] if d["endpoint"] != endpoint]
            try:
                self.client.update(
                    index=self.index, id=alert_id, doc={"deliveries": [*kept, outcome]},
                    if_seq_no=doc["_seq_no"], if_primary_term=doc["_primary_term"],
                )  # fmt: skip
                return
            except ConflictError:
                continue
        raise RuntimeError(f"alert {alert_id}: delivery outcome not recorded after 5 conflicts")
