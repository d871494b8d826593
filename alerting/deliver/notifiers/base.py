"""What every webhook notifier shares: the contract, the signature, the HTTP attempt.

Headers on every request:
- ``X-Finsent-Timestamp``: Unix seconds of this attempt;
- ``X-Finsent-Signature``: ``sha256=`` + hex HMAC-SHA256 over ``"{timestamp}." + body`` with the
  endpoint's secret (receivers reject old timestamps to stop replays);
- ``Idempotency-Key``: the alert event id (the same on every retry of that event).

Timeouts, connection errors, 408, 429 and 5xx are retryable; any other status is final. A
format (JSON, Slack, Teams) is a subclass of ``HttpNotifier`` that only renders the body.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Protocol

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


class Notifier(Protocol):
    """Delivers alert events to one endpoint; the dispatcher retries by ``Outcome``."""

    def send(self, alert: Alert) -> Outcome:
        """One attempt; never raises for network or HTTP failures."""
        ...

    def close(self) -> None:
        """Release the connection."""
        ...


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header value."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    """Receiver-side check (constant time); for tests and for users' receivers."""
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


def headline(alert: Alert) -> str:
    """One line for chat formats: what happened to which key, with the evidence.

    A resolved event says how long the incident lasted and how bad it got; its figures are
    those of the calm window that ended it, said as such (not the firing ratio).
    """
    if alert.status == "resolved":
        minutes = (alert.window_end - alert.window_start).total_seconds() / 60
        return (
            f"Resolved: {alert.key} after {minutes:.0f} min (peak "
            f"{alert.peak_severity or alert.severity}); last window {alert.observed:g} "
            f"negative stories vs {alert.expected:.1f} expected"
        )
    verb = {"firing": "Negative surge", "escalated": "Surge escalated"}[alert.status]
    return (
        f"{verb}: {alert.key} ({alert.severity}) {alert.observed:g} negative "
        f"stories vs {alert.expected:.1f} expected, x{alert.ratio:.1f}, p={alert.p_value:.1e}"
    )


def plain(text: str) -> str:
    """No escaping (the JSON format: receivers treat the fields as data)."""
    return text


def sample_lines(alert: Alert, escape: Callable[[str], str] = plain) -> list[str]:
    """The sample stories as list lines for chat formats, feed text escaped for the format.

    Titles and links come from feeds, so they are untrusted: ``escape`` keeps them text
    (no mentions, no markup, no links of their own); only http(s) links are shown.
    """
    return [
        f"- {escape(s.title)} ({s.score:.2f})"
        + (f" {escape(s.url)}" if s.url and s.url.lower().startswith(("http://", "https://"))
           else "")
        for s in alert.samples
    ]  # fmt: skip


class HttpNotifier(ABC):
    """Signed POSTs of rendered alert events to one endpoint; subclasses render one format."""

    format: ClassVar[str]
    """The ``format`` of the webhook config this class serves."""

    def __init__(self, endpoint: WebhookSettings, client: httpx.Client | None = None) -> None:
        if endpoint.format != self.format:
            raise ValueError(
                f"webhook {endpoint.name!r} has format {endpoint.format!r} but "
                f"{type(self).__name__} sends {self.format!r}: build it with notifier_for()"
            )
        self.endpoint = endpoint
        self.client = client or httpx.Client(timeout=endpoint.timeout_s, follow_redirects=False)

    @classmethod
    @abstractmethod
    def render(cls, alert: Alert) -> bytes:
        """The request body for this format."""

    def send(self, alert: Alert) -> Outcome:
        """Render and POST one event; never raises for network or HTTP failures."""
        return self.post(alert.id, alert.status, self.render(alert))

    def post(self, alert_id: str, status: str, body: bytes) -> Outcome:
        """One signed attempt with this body."""
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
