"""Webhook delivery of alert events: templates, HMAC signature, failure classes.

Headers on every request:
- ``X-Finsent-Timestamp``: Unix seconds of this attempt;
- ``X-Finsent-Signature``: ``sha256=`` + hex HMAC-SHA256 over ``"{timestamp}." + body`` with the
  endpoint's secret (receivers reject old timestamps to stop replays);
- ``Idempotency-Key``: the alert event id (the same on every retry of that event).

Timeouts, connection errors, 408, 429 and 5xx are retryable; any other status is final.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any

import httpx

from finsent.config import WebhookSettings
from finsent.schemas import Alert

RETRYABLE_STATUS = {408, 429}
USER_AGENT = "finsent-webhook/1"


@dataclass(frozen=True)
class Outcome:
    """What one attempt achieved."""

    delivered: bool
    retryable: bool
    status: int | None
    error: str | None


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header value."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    """Receiver-side check (constant time); for tests and for users' receivers."""
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


def _headline(alert: Alert) -> str:
    verb = {"firing": "Negative surge", "escalated": "Surge escalated", "resolved": "Resolved"}
    return (
        f"{verb[alert.status]}: {alert.key} ({alert.severity}) {alert.observed:g} negative "
        f"stories vs {alert.expected:.1f} expected, x{alert.ratio:.1f}, p={alert.p_value:.1e}"
    )


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _slack(alert: Alert, lines: list[str], link: str) -> dict[str, Any]:
    context = (
        f"rule {alert.rule} | window {alert.window_start:%Y-%m-%d %H:%M}-"
        f"{alert.window_end:%H:%M} UTC | incident {alert.incident_id}"
    )
    blocks: list[dict[str, Any]] = [
        _section(f"*{_headline(alert)}*"),
        {"type": "context", "elements": [{"type": "mrkdwn", "text": context}]},
    ]
    if lines:
        blocks.append(_section("\n".join(lines)))
    if link:
        blocks.append(_section(f"<{link}|Open in Kibana>"))
    return {"text": _headline(alert), "blocks": blocks}


def _teams(alert: Alert, lines: list[str], link: str) -> dict[str, Any]:
    card: dict[str, Any] = {
        "type": "AdaptiveCard",
        "version": "1.4",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "body": [
            {"type": "TextBlock", "text": _headline(alert), "weight": "Bolder", "wrap": True},
            {"type": "TextBlock", "text": "\n".join(lines) or " ", "wrap": True},
        ],
    }
    if link:
        card["actions"] = [{"type": "Action.OpenUrl", "title": "Open in Kibana", "url": link}]
    attachment = {"contentType": "application/vnd.microsoft.card.adaptive", "content": card}
    return {"type": "message", "attachments": [attachment]}


def render(alert: Alert, fmt: str) -> bytes:
    """The request body for an endpoint format: json, slack or teams."""
    if fmt == "json":
        return alert.model_dump_json().encode()
    lines = [f"- {s.title} ({s.score:.2f})" + (f" {s.url}" if s.url else "") for s in alert.samples]
    link = alert.kibana_url or ""
    if fmt == "slack":
        return json.dumps(_slack(alert, lines, link)).encode()
    if fmt == "teams":
        return json.dumps(_teams(alert, lines, link)).encode()
    raise ValueError(f"unknown webhook format {fmt!r}")


class WebhookNotifier:
    """Sends rendered alert events to one endpoint."""

    def __init__(self, endpoint: WebhookSettings, client: httpx.Client | None = None) -> None:
        self.endpoint = endpoint
        self.client = client or httpx.Client(timeout=endpoint.timeout_s, follow_redirects=False)

    def send(self, alert_id: str, status: str, body: bytes) -> Outcome:
        """One attempt; never raises for network or HTTP failures."""
        timestamp = str(int(time.time()))
        headers = dict(self.endpoint.headers) | {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "Idempotency-Key": alert_id,
            "X-Finsent-Event": status,
            "X-Finsent-Timestamp": timestamp,
        }
        if self.endpoint.secret is not None:
            headers["X-Finsent-Signature"] = sign(
                self.endpoint.secret.get_secret_value(), timestamp, body
            )
        try:
            response = self.client.post(self.endpoint.url, content=body, headers=headers)
        except httpx.TimeoutException:
            return Outcome(False, True, None, "timeout")
        except httpx.HTTPError as exc:
            return Outcome(False, True, None, type(exc).__name__)
        code = response.status_code
        if 200 <= code < 300:
            return Outcome(True, False, code, None)
        retryable = code in RETRYABLE_STATUS or code >= 500
        return Outcome(False, retryable, code, f"HTTP {code}")

    def close(self) -> None:
        """Close the HTTP client."""
        self.client.close()
