"""Analysts' labels written onto the item documents, so dashboards can show corrected items.

Each item lives in one daily index behind the items alias; an ids query finds which, and
one bulk request per chunk sets ``correction: {sentiment, topic, by, at}`` there. Writing
the same labels again gives the same documents (``at`` aside): an import can be rerun.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from elasticsearch import Elasticsearch

from classifier.training.labelset import Label
from finsent.es import load_templates

CHUNK = 1000
"""Ids per lookup and per bulk request."""


@dataclass
class Applied:
    """What a correction run did: documents updated, ids not indexed, ids refused."""

    updated: int = 0
    missing: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (id, reason)


def correction_mapping(prefix: str) -> dict[str, Any]:
    """The ``correction`` field's mapping, as the shipped items template has it."""
    template = load_templates(prefix)[f"{prefix}-items"]
    mapping: dict[str, Any] = template["template"]["mappings"]["properties"]["correction"]
    return mapping


def locate(es: Elasticsearch, prefix: str, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Id -> {"index": concrete index, "source": item source} for the ids that are indexed."""
    alias = f"{prefix}-items"
    found: dict[str, dict[str, Any]] = {}
    if not ids or not es.indices.exists(index=alias):
        return found
    for start in range(0, len(ids), CHUNK):
        chunk = list(ids[start : start + CHUNK])
        response = es.search(index=alias, query={"ids": {"values": chunk}}, size=len(chunk),
                             source_includes=["source"])  # fmt: skip
        for hit in response["hits"]["hits"]:
            found[hit["_id"]] = {"index": hit["_index"], "source": hit["_source"].get("source")}
    return found


def apply(
    es: Elasticsearch, prefix: str, labels: Sequence[Label], at: str,
    where: dict[str, dict[str, Any]] | None = None,
) -> Applied:  # fmt: skip
    """Set ``correction`` on each labelled item's document (``where``: from ``locate``).

    The field's mapping is put on the alias first, so indices created before the template
    had it accept the update (the mappings are strict).
    """
    where = where if where is not None else locate(es, prefix, [lb.id for lb in labels])
    result = Applied(missing=[lb.id for lb in labels if lb.id not in where])
    present = [lb for lb in labels if lb.id in where]
    if not present:
        return result
    es.indices.put_mapping(index=f"{prefix}-items",
                           properties={"correction": correction_mapping(prefix)})  # fmt: skip
    for start in range(0, len(present), CHUNK):
        operations: list[dict[str, Any]] = []
        chunk = present[start : start + CHUNK]
        for label in chunk:
            operations.append({"update": {"_index": where[label.id]["index"], "_id": label.id}})
            operations.append({"doc": {"correction": {
                "sentiment": label.sentiment, "topic": label.topic,
                "by": label.labelled_by, "at": label.labelled_at or at,
            }}})  # fmt: skip
        response = es.bulk(operations=operations, refresh="wait_for")
        for label, entry in zip(chunk, response["items"], strict=True):
            outcome = entry["update"]
            if int(outcome.get("status", 500)) < 300:
                result.updated += 1
            else:
                reason = (outcome.get("error") or {}).get("reason", "unknown")
                result.failed.append((label.id, str(reason)))
    return result
