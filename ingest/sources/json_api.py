"""Any JSON HTTP endpoint, mapped to RawItem fields by dotted paths."""

from __future__ import annotations

from typing import Any

from finsent.config_sources import JsonSourceConfig
from ingest.errors import SourceError
from ingest.sources.base import Poll
from ingest.sources.http import HttpSource

FIELDS = {"guid", "url", "title", "text", "published", "published_at", "author", "symbols"}


def dotted(record: Any, path: str) -> Any:
    """``a.b.0.c`` into nested dicts and lists; None where the path does not exist."""
    value = record
    for part in [p for p in path.split(".") if p]:
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.lstrip("-").isdigit() and abs(int(part)) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def map_records(payload: Any, items_path: str, fields: dict[str, str]) -> list[dict[str, Any]]:
    """Field dicts for the ItemFactory from the configured mapping."""
    records = dotted(payload, items_path) if items_path else payload
    if not isinstance(records, list):
        raise ValueError(f"items_path {items_path!r} does not lead to a list")
    entries = []
    for record in records:
        entry: dict[str, Any] = {}
        for target, path in fields.items():
            key = "published" if target == "published_at" else target
            value = dotted(record, path)
            if key == "symbols":
                value = (
                    [str(v) for v in value]
                    if isinstance(value, list)
                    else ([str(value)] if value else [])
                )
            elif key in ("guid", "author") and value is not None:
                value = str(value)
            entry[key] = value
        entries.append(entry)
    return entries


class JsonSource(HttpSource):
    """Polls one endpoint; the mapping is validated at construction."""

    config: JsonSourceConfig

    def __init__(self, config: JsonSourceConfig) -> None:
        unknown = set(config.fields) - FIELDS
        if unknown:
            raise ValueError(f"source {config.name}: unknown fields {sorted(unknown)}")
        if not {"guid", "url"} & set(config.fields):
            raise ValueError(f"source {config.name}: fields must map guid or url")
        super().__init__(config)

    def poll(self) -> Poll:
        """Fetch and map every record."""
        payload = self.json_body(self.fetch(self.config.url))
        try:
            entries = map_records(payload, self.config.items_path, self.config.fields)
        except ValueError as exc:
            raise SourceError("invalid_json", str(exc)) from exc
        return self.items(entries)
