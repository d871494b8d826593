"""The notifier table: each webhook format picks its class, which renders that format."""

import json
from typing import get_args

import pytest
from pydantic import SecretStr

from alerting.deliver.notifiers.formats import NOTIFIERS, notifier_for, render
from alerting.deliver.notifiers.slack import SlackNotifier
from alerting.deliver.notifiers.teams import TeamsNotifier
from alerting.deliver.notifiers.webhook import WebhookNotifier
from finsent.config import WebhookSettings
from tests.alerting.deliver.notifiers.test_webhook import alert


def hook(fmt: str) -> WebhookSettings:
    return WebhookSettings(name=f"h-{fmt}", url="http://127.0.0.1:9/hook", format=fmt,
                           secret=SecretStr("s"))  # fmt: skip


def test_every_config_format_has_a_class() -> None:
    formats = get_args(WebhookSettings.model_fields["format"].annotation)
    assert set(NOTIFIERS) == set(formats)
    assert {"json": WebhookNotifier, "slack": SlackNotifier, "teams": TeamsNotifier} == NOTIFIERS


@pytest.mark.parametrize(
    ("fmt", "cls"), [("json", WebhookNotifier), ("slack", SlackNotifier), ("teams", TeamsNotifier)]
)
def test_each_format_picks_its_class(fmt: str, cls: type) -> None:
    notifier = notifier_for(hook(fmt))
    try:
        assert type(notifier) is cls
        assert notifier.render(alert()) == render(alert(), fmt)
    finally:
        notifier.close()


def test_bodies_by_format() -> None:
    assert WebhookNotifier.render(alert()) == alert().model_dump_json().encode()
    assert json.loads(SlackNotifier.render(alert()))["text"].startswith("Negative surge")
    assert json.loads(TeamsNotifier.render(alert()))["type"] == "message"
    with pytest.raises(ValueError, match="unknown webhook format 'xml'"):
        render(alert(), "xml")


def test_a_class_refuses_an_endpoint_of_another_format() -> None:
    with pytest.raises(ValueError, match="notifier_for"):
        WebhookNotifier(hook("slack"))
