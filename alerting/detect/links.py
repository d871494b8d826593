"""Kibana Discover links that open the items of one key and window."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote

ITEMS_DATA_VIEW = "finsent-items"
"""Saved-object id of the items data view in deploy/kibana/finsent.ndjson."""

FIELDS = {"ticker": "tickers", "topic": "topic.label", "source": "source"}


def kql(key: str) -> str:
    """The KQL query selecting a key's items (``global:all`` selects everything)."""
    key_type, _, value = key.partition(":")
    field = FIELDS.get(key_type)
    if field is None:
        return ""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'{field}:"{escaped}"'


def _rison_string(value: str) -> str:
    return "'" + value.replace("!", "!!").replace("'", "!'") + "'"


def discover_url(base: str, key: str, start: datetime, end: datetime) -> str:
    """Discover on the items data view, filtered to the key, over the window."""
    time = f"(from:{_rison_string(start.isoformat())},to:{_rison_string(end.isoformat())})"
    query = f"(language:kuery,query:{_rison_string(kql(key))})"
    state = f"(dataSource:(dataViewId:{ITEMS_DATA_VIEW},type:dataView),query:{query})"
    return (
        f"{base.rstrip('/')}/app/discover#/?_g=(time:{quote(time, safe='():,')})"
        f"&_a={quote(state, safe='():,')}"
    )
