"""Microsoft Teams webhooks (``format: teams``): an Adaptive Card with a Kibana button."""

from __future__ import annotations

import json
import re
from typing import Any, ClassVar

from alerting.deliver.notifiers.base import HttpNotifier, headline, sample_lines
from finsent.schemas import Alert

MARKDOWN = re.compile(r"([\\`*_\[\]()~])")
"""What Adaptive Card Markdown acts on inside a line: emphasis, code, links."""


def escape(text: str) -> str:
    """Feed text backslash-escaped, so it cannot make links or emphasis of its own."""
    return MARKDOWN.sub(r"\\\1", text)


class TeamsNotifier(HttpNotifier):
    """POSTs a Teams message holding one Adaptive Card."""

    format: ClassVar[str] = "teams"

    @classmethod
    def message(cls, alert: Alert) -> dict[str, Any]:
        """The Teams message with its card attachment."""
        lines, link = sample_lines(alert, escape), alert.kibana_url or ""
        card: dict[str, Any] = {
            "type": "AdaptiveCard",
            "version": "1.4",
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "body": [
                {"type": "TextBlock", "text": headline(alert), "weight": "Bolder", "wrap": True},
                {"type": "TextBlock", "text": "\n".join(lines) or " ", "wrap": True},
            ],
        }
        if link:
            card["actions"] = [{"type": "Action.OpenUrl", "title": "Open in Kibana", "url": link}]
        attachment = {"contentType": "application/vnd.microsoft.card.adaptive", "content": card}
        return {"type": "message", "attachments": [attachment]}

    @classmethod
    def render(cls, alert: Alert) -> bytes:
        """The Teams message as JSON."""
        return json.dumps(cls.message(alert)).encode()
