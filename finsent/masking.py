"""Masking credentials in what finsent prints about its configuration (`config check`).

``SecretStr`` fields are masked by pydantic; these catch what hides in plain strings: the
password of a URL's userinfo, query-string values (API keys and tokens often travel there),
the path of a webhook URL (Slack and Teams put the token in it), and every value of a
``headers`` mapping (``Authorization``, API-key headers).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "**********"
URL = re.compile(r"^[a-z][a-z0-9+.-]*://", re.I)


def mask_url(url: str, hide_path: bool = False) -> str:
    """The URL with userinfo password, query values (and, with ``hide_path``, the path) masked."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return MASK  # not parseable: show nothing of it
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"  # IPv6
    if parts.username is not None:
        user = parts.username + (f":{MASK}" if parts.password is not None else "")
        host = f"{user}@{host}"
    netloc = host + (f":{port}" if port is not None else "")
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    query = urlencode([(k, MASK) for k, _ in pairs], safe="*")
    path = f"/{MASK}" if hide_path and parts.path not in ("", "/") else parts.path
    return urlunsplit((parts.scheme, netloc, path, query, ""))


def mask_config(data: Any, key: str = "", webhook: bool = False) -> Any:
    """A copy of dumped settings with every credential-bearing string masked."""
    if isinstance(data, dict):
        in_webhook = webhook or key == "webhooks"
        return {
            k: ({h: MASK for h in v} if k == "headers" and isinstance(v, dict)
                else mask_config(v, k, in_webhook))
            for k, v in data.items()
        }  # fmt: skip
    if isinstance(data, list):
        return [mask_config(v, key, webhook) for v in data]
    if isinstance(data, str) and URL.match(data):
        return mask_url(data, hide_path=webhook and key == "url")
    return data
