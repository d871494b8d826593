"""Alert events in Elasticsearch: ``{prefix}-alerts``, ``_id`` = event id.

The outcome of each webhook delivery is recorded on the event's document, and so is the
analysts' triage: ``acknowledged`` (the incident is being handled: its later firing and
escalated events are not sent again; its resolution still is) and ``muted`` (no event of
the key is sent until ``muted.until``). Every event stays indexed either way. ``feedback``
is the analysts' verdict on the event (useful or a false alarm), for tuning the rules and
for choosing items to label; it changes no delivery.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from elasticsearch import ConflictError, Elasticsearch, NotFoundError

from finsent.schemas import Alert


def alerts_index(prefix: str) -> str:
    """The alerts index (matched by the alerts template)."""
    return f"{prefix}-alerts"


def iso(at: datetime) -> str:
    """UTC ISO-8601 with ``Z``, as the documents store times."""
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


Verdict = Literal["useful", "false_alarm"]
VERDICTS: tuple[Verdict, ...] = ("useful", "false_alarm")
"""What an analyst can say of an alert event (``feedback.verdict``)."""


class AlertNotFound(LookupError):
    """No alert document with this id."""


@dataclass(frozen=True)
class AlertQuery:
    """Filters of ``finsent alerts list`` (all optional; newest first)."""

    key: str | None = None
    status: str | None = None
    severity: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 50

    def body(self) -> dict[str, Any]:
        """The Elasticsearch query."""
        filters: list[dict[str, Any]] = []
        for field, value in (("key", self.key), ("status", self.status),
                             ("severity", self.severity)):  # fmt: skip
            if value is not None:
                filters.append({"term": {field: value}})
        span = {k: iso(v) for k, v in (("gte", self.since), ("lte", self.until)) if v}
        if span:
            filters.append({"range": {"created_at": span}})
        return {"bool": {"filter": filters}}


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

    def get(self, alert_id: str) -> dict[str, Any]:
        """The event's document (``AlertNotFound`` when there is none)."""
        try:
            return dict(self.client.get(index=self.index, id=alert_id)["_source"])
        except NotFoundError:
            raise AlertNotFound(f"no alert event {alert_id!r} in {self.index}") from None

    def search(self, query: AlertQuery) -> list[dict[str, Any]]:
        """Event documents matching the filters, newest first."""
        if not self.client.indices.exists(index=self.index):
            return []
        response = self.client.search(
            index=self.index, query=query.body(), size=query.limit,
            sort=[{"created_at": "desc"}, {"id": "asc"}],
        )  # fmt: skip
        return [hit["_source"] for hit in response["hits"]["hits"]]

    def acknowledge(self, alert_id: str, by: str, note: str | None = None) -> dict[str, Any]:
        """Record that someone handles this event's incident; returns the document."""
        doc = self.get(alert_id)
        mark = {"by": by, "at": iso(datetime.now(UTC)), "note": note}
        self._update(alert_id, {"acknowledged": mark})
        return doc | {"acknowledged": mark}

    def mute(
        self, alert_id: str, until: datetime, by: str, note: str | None = None
    ) -> dict[str, Any]:
        """Hold back every event of this event's key until ``until``; returns the document."""
        doc = self.get(alert_id)
        mark = {"by": by, "at": iso(datetime.now(UTC)), "until": iso(until), "note": note}
        self._update(alert_id, {"muted": mark})
        return doc | {"muted": mark}

    def mark(
        self, alert_id: str, verdict: Verdict, by: str, note: str | None = None
    ) -> dict[str, Any]:
        """Record an analyst's verdict on the event; returns the document.

        A later mark replaces the earlier one.
        """
        if verdict not in VERDICTS:
            raise ValueError(f"verdict {verdict!r}: one of {', '.join(VERDICTS)}")
        doc = self.get(alert_id)
        mark = {"verdict": verdict, "by": by, "at": iso(datetime.now(UTC)), "note": note}
        self._update(alert_id, {"feedback": mark})
        return doc | {"feedback": mark}

    def _update(self, alert_id: str, fields: dict[str, Any]) -> None:
        # wait_for: the delivery check (a search) sees the mark as soon as this returns
        self.client.update(index=self.index, id=alert_id, doc=fields, refresh="wait_for")

    def suppression(self, alert: Alert, now: datetime | None = None) -> str | None:
        """Why this event must not be sent now (acknowledged or muted), or None."""
        now = now or datetime.now(UTC)
        reasons: list[dict[str, Any]] = [
            {"bool": {"filter": [{"term": {"key": alert.key}},
                                 {"range": {"muted.until": {"gt": iso(now)}}}]}},
        ]  # fmt: skip
        if alert.status != "resolved":  # the end of an incident is always worth telling
            reasons.append({"bool": {"filter": [
                {"term": {"incident_id": alert.incident_id}}, {"exists": {"field": "acknowledged"}},
            ]}})  # fmt: skip
        response = self.client.search(
            index=self.index, size=1, source_includes=["id", "acknowledged", "muted"],
            query={"bool": {"should": reasons, "minimum_should_match": 1}},
            sort=[{"created_at": "desc"}],
        )  # fmt: skip
        hits = response["hits"]["hits"]
        if not hits:
            return None
        found = hits[0]["_source"]
        muted = found.get("muted")
        if muted and datetime.fromisoformat(muted["until"]) > now:
            return f"muted by {muted.get('by')} until {muted['until']} (event {found['id']})"
        ack = found.get("acknowledged") or {}
        return f"acknowledged by {ack.get('by')} at {ack.get('at')} (event {found['id']})"

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
            "updated_at": iso(datetime.now(UTC)),
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
