"""`finsent alerts list|ack|mute|unmute|redeliver` on the real Elasticsearch, and delivery
honouring acknowledgements and mutes through a real loopback receiver."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch
from pydantic import SecretStr

from alerting.deliver.dispatcher import Dispatcher
from alerting.deliver.notifiers.webhook import WebhookNotifier
from alerting.deliver.outbox import Outbox
from alerting.deliver.store import AlertStore
from alerting.testing import WebhookReceiver
from finsent.config import AlertingSettings, Settings, WebhookSettings
from finsent.es import install_templates, make_client
from finsent.schemas import Alert, AlertSample, encode
from tests.cli import finsent


def event(incident: str, key: str, status: str, severity: str, minutes_ago: int) -> Alert:
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=minutes_ago)
    return Alert(
        id=f"{incident}-{status}", incident_id=incident, rule="negative-surge", key=key,
        status=status, window_start=at - timedelta(minutes=15), window_end=at, observed=12,
        expected=1.5, total=14, ratio=8.0, p_value=1e-7, severity=severity,
        peak_severity=severity, created_at=at,
        samples=[AlertSample(id="x", title="ACME recalls cars", url="https://n/1", score=0.97)],
    )  # fmt: skip


@pytest.fixture
def es(settings: Settings, unique: str) -> Iterator[Elasticsearch]:
    client = make_client(settings.elasticsearch)
    install_templates(client, unique)
    yield client
    client.options(ignore_status=404).indices.delete(index=f"{unique}-alerts")
    for name in ("items", "alerts"):
        client.options(ignore_status=404).indices.delete_index_template(name=f"{unique}-{name}")


@pytest.fixture
def store(es: Elasticsearch, unique: str) -> AlertStore:
    store = AlertStore(es, unique)
    for alert in (
        event("acme1", "ticker:ACME", "firing", "high", 50),
        event("acme1", "ticker:ACME", "escalated", "critical", 40),
        event("acme1", "ticker:ACME", "resolved", "low", 10),
        event("macro1", "topic:Macro", "firing", "medium", 30),
        event("old1", "ticker:OLD", "firing", "low", 3 * 24 * 60),
    ):
        assert store.create(alert)
    es.indices.refresh(index=f"{unique}-alerts")
    return store


def env(unique: str, outbox: Path, url: str = "http://127.0.0.1:9/hook") -> dict[str, str]:
    hooks = [{"name": "risk", "url": url, "secret": "s"}]
    return os.environ | {
        "FINSENT_ELASTICSEARCH__INDEX_PREFIX": unique,
        "FINSENT_ALERTING__OUTBOX_PATH": str(outbox),
        "FINSENT_ALERTING__WEBHOOKS": json.dumps(hooks),
    }


def listed(unique: str, tmp_path: Path, *args: str) -> list[dict[str, object]]:
    run = finsent("alerts", "list", "--json", *args, env=env(unique, tmp_path / "o.db"))
    assert run.returncode == 0, run.stderr
    return [json.loads(line) for line in run.stdout.splitlines()]


def test_list_filters_by_key_status_severity_and_time(
    store: AlertStore, unique: str, tmp_path: Path
) -> None:
    ids = [d["id"] for d in listed(unique, tmp_path)]
    assert ids == ["acme1-resolved", "macro1-firing", "acme1-escalated", "acme1-firing"]
    assert [d["id"] for d in listed(unique, tmp_path, "--since", "7d")][-1] == "old1-firing"
    assert {d["id"] for d in listed(unique, tmp_path, "--key", "ticker:ACME", "--status",
                                    "firing")} == {"acme1-firing"}  # fmt: skip
    assert [d["id"] for d in listed(unique, tmp_path, "--severity", "critical")] == [
        "acme1-escalated"
    ]
    assert [d["id"] for d in listed(unique, tmp_path, "--until", "35m")] == [
        "acme1-escalated", "acme1-firing",
    ]  # fmt: skip
    table = finsent("alerts", "list", "--key", "topic:Macro", env=env(unique, tmp_path / "o.db"))
    assert "topic:Macro" in table.stdout and "macro1-firing" in table.stdout
    bad = finsent("alerts", "list", "--status", "fired", env=env(unique, tmp_path / "o.db"))
    assert bad.returncode == 2 and "one of firing, escalated, resolved" in bad.stderr


def test_ack_holds_back_the_incidents_escalations_but_not_its_resolution(
    store: AlertStore, unique: str, tmp_path: Path
) -> None:
    run = finsent("alerts", "ack", "acme1-firing", "--note", "desk on it", "--by", "ana",
                  env=env(unique, tmp_path / "o.db"))  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "acme1" in run.stdout
    doc = store.get("acme1-firing")
    assert doc["acknowledged"]["by"] == "ana" and doc["acknowledged"]["note"] == "desk on it"
    escalated = event("acme1", "ticker:ACME", "escalated", "critical", 40)
    reason = store.suppression(escalated)
    assert reason is not None and "acknowledged by ana" in reason
    assert store.suppression(event("acme1", "ticker:ACME", "resolved", "low", 10)) is None
    assert store.suppression(event("macro1", "topic:Macro", "escalated", "high", 5)) is None
    missing = finsent("alerts", "ack", "nope", env=env(unique, tmp_path / "o.db"))
    assert missing.returncode == 1 and "no alert event 'nope'" in missing.stderr
    assert (
        "acked by ana"
        in finsent(
            "alerts", "list", "--key", "ticker:ACME", env=env(unique, tmp_path / "o.db")
        ).stdout
    )


def test_mute_holds_back_every_event_of_the_key_until_unmuted(
    store: AlertStore, unique: str, tmp_path: Path
) -> None:
    run = finsent("alerts", "mute", "macro1-firing", "--for", "2h", "--by", "bo",
                  env=env(unique, tmp_path / "o.db"))  # fmt: skip
    assert run.returncode == 0, run.stderr
    later = event("macro2", "topic:Macro", "firing", "high", 1)
    reason = store.suppression(later)
    assert reason is not None and "muted by bo" in reason
    later_on = datetime.now(UTC) + timedelta(hours=3)
    assert store.suppression(later, now=later_on) is None, "the mute expires"
    assert store.suppression(event("x1", "ticker:ACME", "firing", "high", 1)) is None
    run = finsent("alerts", "unmute", "macro1-firing", env=env(unique, tmp_path / "o.db"))
    assert run.returncode == 0, run.stderr
    assert store.suppression(later) is None


def test_delivery_honours_the_ack_and_redeliver_resends_dead_deliveries(
    store: AlertStore, unique: str, tmp_path: Path
) -> None:
    outbox_path = tmp_path / "outbox.sqlite3"
    store.acknowledge("acme1-firing", "ana")
    with WebhookReceiver(secret="s", fail_first=2, fail_status=503) as receiver:
        hook = WebhookSettings(name="risk", url=receiver.url, secret=SecretStr("s"))
        settings = AlertingSettings(webhooks=[hook], max_attempts=2, backoff_initial_s=0.01,
                                    backoff_max_s=0.02)  # fmt: skip
        outbox = Outbox(outbox_path)
        dispatcher = Dispatcher(settings, outbox, store, {"risk": WebhookNotifier(hook)})
        for alert in (event("acme1", "ticker:ACME", "escalated", "critical", 40),
                      event("macro1", "topic:Macro", "firing", "medium", 30)):  # fmt: skip
            outbox.enqueue(alert.id, "risk", encode(alert))
        deadline = time.monotonic() + 10
        while outbox.next_due("risk") is not None and time.monotonic() < deadline:
            dispatcher.run_due("risk")
            time.sleep(0.05)
        statuses = {d.alert_id: d.status for d in outbox.find()}
        assert statuses == {"acme1-escalated": "suppressed", "macro1-firing": "dead"}
        assert [r.headers["idempotency-key"] for r in receiver.requests] == ["macro1-firing"] * 2
        recorded = store.deliveries("acme1-escalated")["risk"]
        assert recorded["status"] == "suppressed" and "acknowledged" in recorded["last_error"]
        outbox.close()

        run = finsent("alerts", "redeliver", "--endpoint", "risk",
                      env=env(unique, outbox_path, receiver.url))  # fmt: skip
        assert run.returncode == 0, run.stderr
        assert "queued macro1-firing -> risk" in run.stdout
        assert "1 deliveries queued" in run.stderr
        outbox = Outbox(outbox_path)
        dispatcher = Dispatcher(settings, outbox, store, {"risk": WebhookNotifier(hook)})
        dispatcher.run_due("risk")
        assert {d.alert_id: d.status for d in outbox.find()}["macro1-firing"] == "delivered"
        assert [r.headers["idempotency-key"] for r in receiver.delivered] == ["macro1-firing"]
        # an event with no outbox row (a new volume) is queued again from its document
        run = finsent("alerts", "redeliver", "acme1-resolved", "nope",
                      env=env(unique, outbox_path, receiver.url))  # fmt: skip
        assert run.returncode == 1, "an unknown id is an error"
        assert "queued acme1-resolved -> risk" in run.stdout and "not found: nope" in run.stderr
        dispatcher.run_due("risk")
        assert [r.headers["idempotency-key"] for r in receiver.delivered][-1] == "acme1-resolved"
        outbox.close()
