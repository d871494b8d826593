import json

import pytest
from pydantic import SecretStr

from finsent.config import LoggingSettings
from finsent.logs import configure, get_logger


def test_json_events_without_secrets(capsys: pytest.CaptureFixture[str]) -> None:
    configure(LoggingSettings(level="INFO", format="json"))
    log = get_logger("test")
    log.info(
        "connected",
        sasl_password="hunter2",
        api_key="abc123",
        webhook_secret="whsec",
        token=SecretStr("t0k3n-value"),
        nested=SecretStr("inner"),
        broker="127.0.0.1:9092",
    )
    log.debug("hidden at INFO")
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, "one event per line, DEBUG filtered"
    event = json.loads(lines[0])
    assert event["event"] == "connected"
    assert event["component"] == "test"
    assert event["level"] == "info"
    assert event["timestamp"].endswith("Z")
    assert event["broker"] == "127.0.0.1:9092"
    for key in ("sasl_password", "api_key", "webhook_secret", "token", "nested"):
        assert event[key] == "**********"
    for secret in ("hunter2", "abc123", "whsec", "t0k3n-value", "inner"):
        assert secret not in lines[0]
