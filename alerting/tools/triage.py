"""`finsent alerts list|ack|mute|unmute|redeliver`: the analyst's side of alert events.

Listing, acknowledging and muting work on the alert documents in Elasticsearch (any
machine with access to the cluster); ``redeliver`` works on the deliver stage's outbox (run
it where that stage runs, or with its ``alerting.outbox_path``): dead deliveries are made
pending again and the running sender threads pick them up within a second. An event whose
outbox row is gone (a new volume) is queued again from its document.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from alerting.deliver.outbox import Outbox
from alerting.deliver.store import AlertNotFound, AlertStore
from finsent.schemas import Alert, SchemaError, encode


def triage_state(doc: dict[str, Any], now: datetime | None = None) -> str:
    """``acked by X``, ``muted until T``, ``false alarm (X)`` / ``useful (X)``, or ``-``."""
    now = now or datetime.now(UTC)
    parts = []
    ack = doc.get("acknowledged")
    if ack:
        parts.append(f"acked by {ack.get('by')}")
    muted = doc.get("muted")
    if muted and datetime.fromisoformat(muted["until"]) > now:
        parts.append(f"muted until {datetime.fromisoformat(muted['until']):%m-%d %H:%M}Z")
    feedback = doc.get("feedback")
    if feedback:
        verdict = str(feedback.get("verdict", "")).replace("_", " ")
        parts.append(f"{verdict} ({feedback.get('by')})")
    return ", ".join(parts) or "-"


def format_row(doc: dict[str, Any]) -> str:
    """One line of ``alerts list``."""
    created = datetime.fromisoformat(doc["created_at"])
    deliveries = " ".join(f"{d['endpoint']}:{d['status']}" for d in doc.get("deliveries") or [])
    return (
        f"{created:%Y-%m-%d %H:%M}Z {doc['status']:<9} {doc['severity']:<8} {doc['key']:<24} "
        f"{doc['observed']:g}/{doc['expected']:.1f} x{doc['ratio']:.1f}  "
        f"{triage_state(doc):<24} {deliveries or '-':<20} {doc['id']}"
    )


@dataclass
class Redelivery:
    """What ``redeliver`` queued again."""

    requeued: list[tuple[str, str]]  # (event id, endpoint) made pending from dead
    restored: list[tuple[str, str]]  # queued from the alert document (no outbox row)
    missing: list[str]  # ids found neither in the outbox nor in Elasticsearch


def redeliver(
    outbox: Outbox,
    store: AlertStore | None,
    endpoints: list[str],
    alert_ids: list[str],
    endpoint: str | None = None,
    since: datetime | None = None,
) -> Redelivery:
    """Queue dead deliveries again: the named events, or every dead one (``alert_ids`` empty).

    Named events with no outbox row for an endpoint are queued from their document, unless
    it records that endpoint as delivered.
    """
    found = outbox.requeue(alert_ids, endpoint, since.timestamp() if since else None)
    result = Redelivery([(d.alert_id, d.endpoint) for d in found], [], [])
    targets = [endpoint] if endpoint else endpoints
    for alert_id in alert_ids:
        rows = {d.endpoint for d in outbox.find(alert_ids=[alert_id])}
        absent = [name for name in targets if name not in rows]
        if not absent:
            continue
        if store is None:
            result.missing.append(alert_id)
            continue
        try:
            doc = store.get(alert_id)
        except AlertNotFound:
            if not rows:
                result.missing.append(alert_id)
            continue
        done = {d["endpoint"] for d in doc.get("deliveries") or [] if d["status"] == "delivered"}
        try:
            body = encode(Alert.model_validate(_event_fields(doc)))
        except (ValueError, SchemaError):
            result.missing.append(alert_id)
            continue
        for name in absent:
            if name not in done and outbox.enqueue(alert_id, name, body):
                result.restored.append((alert_id, name))
    return result


def _event_fields(doc: dict[str, Any]) -> dict[str, Any]:
    """The Alert fields of a document (triage and delivery outcomes are the store's)."""
    return {k: v for k, v in doc.items() if k in Alert.model_fields}
