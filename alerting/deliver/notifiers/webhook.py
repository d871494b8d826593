"""Plain webhooks (``format: json``): the body is the Alert event itself."""

from __future__ import annotations

from typing import ClassVar

from alerting.deliver.notifiers.base import HttpNotifier
from finsent.schemas import Alert


class WebhookNotifier(HttpNotifier):
    """POSTs the Alert JSON (the message schema of the alerts topic)."""

    format: ClassVar[str] = "json"

    @classmethod
    def render(cls, alert: Alert) -> bytes:
        """The Alert as JSON."""
        return alert.model_dump_json().encode()
