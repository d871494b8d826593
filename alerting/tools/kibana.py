"""Kibana saved objects (data views, visualisations, searches, the dashboard) and their import.

The objects ship in the wheel (package data ``alerting/tools/resources/finsent.ndjson``);
``finsent kibana import`` posts them to Kibana's saved-objects import API (overwrite:
re-importing updates them). Kibana uses the Elasticsearch credentials of the config (API key
or basic auth) unless told otherwise.
"""

from __future__ import annotations

import json
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

import httpx

from finsent.config import ElasticsearchSettings

SAVED_OBJECTS: Traversable = resources.files("alerting.tools.resources") / "finsent.ndjson"


class KibanaError(RuntimeError):
    """The import failed; the message says what Kibana answered."""


def load_objects(path: Traversable = SAVED_OBJECTS) -> list[dict[str, Any]]:
    """The saved objects, one JSON object per line."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def import_objects(
    url: str,
    settings: ElasticsearchSettings,
    path: Traversable = SAVED_OBJECTS,
    space: str | None = None,
    timeout_s: float = 30.0,
) -> dict[str, Any]:
    """POST the NDJSON to ``/api/saved_objects/_import?overwrite=true``; returns Kibana's answer."""
    base = url.rstrip("/") + (f"/s/{space}" if space else "")
    headers = {"kbn-xsrf": "finsent"}
    auth: tuple[str, str] | None = None
    if settings.api_key is not None:
        headers["Authorization"] = f"ApiKey {settings.api_key.get_secret_value()}"
    elif settings.username is not None and settings.password is not None:
        auth = (settings.username, settings.password.get_secret_value())
    files = {"file": (path.name, path.read_bytes(), "application/ndjson")}
    try:
        response = httpx.post(
            f"{base}/api/saved_objects/_import", params={"overwrite": "true"}, files=files,
            headers=headers, auth=auth, timeout=timeout_s, verify=settings.verify_certs,
        )  # fmt: skip
    except httpx.HTTPError as exc:
        raise KibanaError(f"Kibana at {url} is not reachable: {type(exc).__name__}") from exc
    try:
        answer: dict[str, Any] = response.json()
    except ValueError:
        answer = {}
    if response.status_code != 200:
        message = answer.get("message") or response.text[:300]
        raise KibanaError(f"Kibana answered HTTP {response.status_code}: {message}")
    if not answer.get("success", False):
        errors = [
            f"{e.get('type')}/{e.get('id')}: {e.get('error', {}).get('type')}"
            for e in answer.get("errors", [])
        ]
        raise KibanaError(
            f"Kibana imported {answer.get('successCount', 0)} objects; failed: {errors}"
        )
    return answer
