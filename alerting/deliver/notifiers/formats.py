"""Notifier classes by the ``format`` of a webhook config: one table."""

from __future__ import annotations

from alerting.deliver.notifiers.base import HttpNotifier
from alerting.deliver.notifiers.slack import SlackNotifier
from alerting.deliver.notifiers.teams import TeamsNotifier
from alerting.deliver.notifiers.webhook import WebhookNotifier
from finsent.config import WebhookSettings
from finsent.schemas import Alert

NOTIFIERS: dict[str, type[HttpNotifier]] = {
    "json": WebhookNotifier,
    "slack": SlackNotifier,
    "teams": TeamsNotifier,
}


def notifier_for(endpoint: WebhookSettings) -> HttpNotifier:
    """The notifier serving one endpoint, by its format."""
    return NOTIFIERS[endpoint.format](endpoint)


def render(alert: Alert, fmt: str) -> bytes:
    """The request body for an endpoint format: json, slack or teams."""
    notifier = NOTIFIERS.get(fmt)
    if notifier is None:
        raise ValueError(f"unknown webhook format {fmt!r}; known: {', '.join(NOTIFIERS)}")
    return notifier.render(alert)
