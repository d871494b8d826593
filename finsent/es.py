"""Elasticsearch client and index templates built from ``ElasticsearchSettings``."""

from __future__ import annotations

import json
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

from elasticsearch import Elasticsearch

from finsent.config import ElasticsearchSettings

TEMPLATES_DIR: Traversable = resources.files("finsent.resources") / "elasticsearch"
"""The index templates, shipped in the wheel as package data (``finsent/resources``)."""


def make_client(settings: ElasticsearchSettings, **overrides: Any) -> Elasticsearch:
    """A client for 8.x and 9.x servers with the configured authentication and TLS."""
    options: dict[str, Any] = {
        "hosts": list(settings.hosts),
        "request_timeout": settings.request_timeout_s,
        "verify_certs": settings.verify_certs,
    }
    if settings.ca_certs is not None:
        options["ca_certs"] = str(settings.ca_certs)
    if settings.api_key is not None:
        options["api_key"] = settings.api_key.get_secret_value()
    elif settings.username is not None and settings.password is not None:
        options["basic_auth"] = (settings.username, settings.password.get_secret_value())
    return Elasticsearch(**(options | overrides))


def cluster_problem(client: Elasticsearch, timeout_s: float = 5.0) -> str | None:
    """Why the cluster cannot take writes now, or None when its health is green or yellow.

    Cluster health, not ``ping`` (``HEAD /``): some builds (the integ-test distribution the
    local stack runs) answer 405 on the root endpoint, and a reachable red cluster is not
    ready either.
    """
    try:
        health = client.cluster.health(timeout=f"{timeout_s:g}s")
    except Exception as exc:  # noqa: BLE001 - transport and API errors vary by version
        return f"{type(exc).__name__}: {exc}"[:300]
    status = str(health.get("status"))
    return None if status in ("green", "yellow") else f"cluster health {status}"


def load_templates(
    prefix: str, directory: Traversable = TEMPLATES_DIR
) -> dict[str, dict[str, Any]]:
    """Composable index templates shipped in ``finsent/resources/elasticsearch``, for ``prefix``.

    The files are written for the default prefix ``finsent``; index patterns and aliases are
    renamed to the configured one.
    """
    templates = {}
    paths = [p for p in directory.iterdir() if p.name.endswith(".template.json")]
    for path in sorted(paths, key=lambda p: p.name):
        text = path.read_text(encoding="utf-8").replace('"finsent-', f'"{prefix}-')
        templates[f"{prefix}-{path.name.removesuffix('.template.json')}"] = json.loads(text)
    return templates


def install_templates(
    client: Elasticsearch, prefix: str, directory: Traversable = TEMPLATES_DIR
) -> list[str]:
    """Install (idempotently overwrite) every shipped template under ``prefix``.

    A template only shapes indices created after it, so the mappings of existing indices
    that match it are brought up to date too: fields a newer version adds are added (with
    strict mappings, documents carrying them would otherwise be rejected). A changed field
    type cannot be applied in place; Elasticsearch's refusal is raised as is.
    """
    templates = load_templates(prefix, directory)
    for name, body in templates.items():
        client.indices.put_index_template(
            name=name,
            index_patterns=body["index_patterns"],
            template=body["template"],
            priority=body.get("priority", 100),
            meta=body.get("_meta"),
        )
        properties = body["template"]["mappings"]["properties"]
        for pattern in body["index_patterns"]:
            existing = client.indices.get(
                index=pattern, allow_no_indices=True, expand_wildcards="open"
            )
            if existing:
                client.indices.put_mapping(index=pattern, properties=properties)
    return list(templates)
