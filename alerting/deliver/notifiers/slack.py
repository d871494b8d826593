"""Slack incoming webhooks (``format: slack``): a headline, context and the samples as blocks."""

from __future__ import annotations

import json
from typing import Any, ClassVar

from alerting.deliver.notifiers.base import HttpNotifier, headline, sample_lines
from finsent.schemas import Alert


def escape(text: str) -> str:
    """Slack's control characters as entities: feed text cannot mention, link or format.

    ``<!channel>`` in a title (decoded from ``&lt;!channel&gt;`` by ingest) stays text.
    """
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


class SlackNotifier(HttpNotifier):
    """POSTs a Slack message: ``text`` for notifications, ``blocks`` for the channel."""

    format: ClassVar[str] = "slack"

    @classmethod
    def message(cls, alert: Alert) -> dict[str, Any]:
        """The Slack message (Block Kit)."""
        lines, link = sample_lines(alert, escape), alert.kibana_url or ""
        context = (
            f"rule {alert.rule} | window {alert.window_start:%Y-%m-%d %H:%M}-"
            f"{alert.window_end:%H:%M} UTC | incident {alert.incident_id}"
        )
        blocks: list[dict[str, Any]] = [
            _section(f"*{escape(headline(alert))}*"),
            {"type": "context", "elements": [{"type": "mrkdwn", "text": context}]},
        ]
        if lines:
            blocks.append(_section("\n".join(lines)))
        if link:
            blocks.append(_section(f"<{escape(link)}|Open in Kibana>"))
        return {"text": headline(alert), "blocks": blocks}

    @classmethod
    def render(cls, alert: Alert) -> bytes:
        """The Slack message as JSON."""
        return json.dumps(cls.message(alert)).encode()
