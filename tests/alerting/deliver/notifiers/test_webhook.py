"""Webhook delivery against a real loopback receiver: retries, signatures, no duplicates."""

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import SecretStr

from alerting.deliver.dispatcher import Dispatcher
from alerting.deliver.notifiers.base import sign, verify
from alerting.deliver.notifiers.formats import render
from alerting.deliver.notifiers.webhook import WebhookNotifier
from alerting.deliver.outbox import Delivery, Outbox
from alerting.testing import WebhookReceiver
from finsent.config import AlertingSettings, WebhookSettings
from finsent.schemas import Alert, AlertSample, encode

T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
SECRET = "s3cret-for-tests"


def alert(n: int = 1, status: str = "firing") -> Alert:
    return Alert(
        id=f"a{n}-{status}", incident_id=f"i{n}", rule="negative-surge", key="ticker:ACME",
        status=status, window_start=T0, window_end=T0 + timedelta(minutes=15), observed=12,
        expected=1.5, total=14, ratio=8.0, p_value=1e-7, severity="critical",
        samples=[AlertSample(id="x", title="ACME recalls cars", url="https://n/1", score=0.97)],
        kibana_url="http://kibana:5601/app/discover#/", created_at=T0,
    )  # fmt: skip


def settings(*hooks: WebhookSettings, attempts: int = 5) -> AlertingSettings:
    return AlertingSettings(
        webhooks=list(hooks), max_attempts=attempts, backoff_initial_s=0.05, backoff_max_s=0.2
    )


def hook(name: str, url: str, fmt: str = "json", timeout_s: float = 5.0) -> WebhookSettings:
    return WebhookSettings(name=name, url=url, format=fmt, secret=SecretStr(SECRET),
                           timeout_s=timeout_s)  # fmt: skip


def dispatcher(config: AlertingSettings, outbox: Outbox, dead: list[Delivery]) -> Dispatcher:
    notifiers = {w.name: WebhookNotifier(w) for w in config.webhooks}
    return Dispatcher(config, outbox, None, notifiers, on_dead=dead.append)


def drain(d: Dispatcher, name: str, until: float = 10.0) -> None:
    deadline = time.monotonic() + until
    while d.outbox.next_due(name) is not None and time.monotonic() < deadline:
        d.run_due(name)
        time.sleep(0.02)


def test_signature_round_trip() -> None:
    assert verify(SECRET, "1700000000", b"{}", sign(SECRET, "1700000000", b"{}"))
    assert not verify(SECRET, "1700000001", b"{}", sign(SECRET, "1700000000", b"{}"))
    assert not verify("other", "1700000000", b"{}", sign(SECRET, "1700000000", b"{}"))


def test_retried_until_delivered_signed_and_idempotency_keyed(tmp_path: Path) -> None:
    with WebhookReceiver(secret=SECRET, fail_first=2, fail_status=503) as receiver:
        config = settings(hook("risk", receiver.url))
        outbox = Outbox(tmp_path / "outbox.sqlite3")
        dead: list[Delivery] = []
        d = dispatcher(config, outbox, dead)
        assert outbox.enqueue("a1-firing", "risk", encode(alert()))
        assert not outbox.enqueue("a1-firing", "risk", encode(alert())), "queued once"
        drain(d, "risk")
    statuses = [r.status for r in receiver.requests]
    print("\nattempts seen by the receiver:", statuses)
    assert statuses == [503, 503, 200]
    assert all(r.verified for r in receiver.requests), "the signature verifies with the secret"
    assert {r.headers["idempotency-key"] for r in receiver.requests} == {"a1-firing"}
    assert receiver.delivered[0].json()["key"] == "ticker:ACME"
    assert outbox.counts() == {"delivered": 1} and dead == []


def test_other_4xx_is_not_retried_and_the_budget_dead_letters(tmp_path: Path) -> None:
    with WebhookReceiver(fail_first=99, fail_status=400) as bad, \
            WebhookReceiver(fail_first=99, fail_status=500) as down:  # fmt: skip
        config = settings(hook("bad", bad.url), hook("down", down.url), attempts=3)
        outbox = Outbox(tmp_path / "outbox.sqlite3")
        dead: list[Delivery] = []
        d = dispatcher(config, outbox, dead)
        for name in ("bad", "down"):
            outbox.enqueue("a1-firing", name, encode(alert()))
            drain(d, name)
    assert len(bad.requests) == 1, "400 is final"
    assert len(down.requests) == 3, "5xx retried up to max_attempts"
    assert sorted((x.endpoint, x.attempts, x.last_status) for x in dead) == [
        ("bad", 1, 400), ("down", 3, 500),
    ]  # fmt: skip
    assert outbox.counts() == {"dead": 2}


def test_no_duplicate_delivery_after_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    with WebhookReceiver(secret=SECRET) as receiver:
        config = settings(hook("risk", receiver.url))
        first = Outbox(path)
        first.enqueue("a1-firing", "risk", encode(alert(1)))
        first.enqueue("a2-firing", "risk", encode(alert(2)))
        drain(dispatcher(config, first, []), "risk")
        first.close()
        again = Outbox(path)  # restart: the replayed events are queued again
        assert not again.enqueue("a1-firing", "risk", encode(alert(1)))
        assert again.enqueue("a3-firing", "risk", encode(alert(3)))
        drain(dispatcher(config, again, []), "risk")
    keys = [r.headers["idempotency-key"] for r in receiver.delivered]
    assert sorted(keys) == ["a1-firing", "a2-firing", "a3-firing"], "each event exactly once"


def test_a_pending_delivery_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    Outbox(path).enqueue("a1-firing", "risk", encode(alert()))  # crash before any attempt
    with WebhookReceiver() as receiver:
        drain(dispatcher(settings(hook("risk", receiver.url)), Outbox(path), []), "risk")
    assert len(receiver.delivered) == 1


def test_a_slow_endpoint_does_not_delay_the_others(tmp_path: Path) -> None:
    import threading

    with WebhookReceiver(delay_s=3.0) as slow, WebhookReceiver() as fast:
        config = settings(hook("slow", slow.url, timeout_s=5), hook("fast", fast.url))
        outbox = Outbox(tmp_path / "outbox.sqlite3")
        d = dispatcher(config, outbox, [])
        for name in ("slow", "fast"):
            outbox.enqueue("a1-firing", name, encode(alert()))
        stop = threading.Event()
        started = time.monotonic()
        d.start(stop)
        deadline = started + 10
        while not fast.delivered and time.monotonic() < deadline:
            time.sleep(0.02)
        fast_after = time.monotonic() - started
        while not slow.delivered and time.monotonic() < deadline:
            time.sleep(0.05)
        stop.set()
        d.join(5)
    print(f"\nfast endpoint served after {fast_after:.2f} s while the slow one takes 3 s")
    assert fast.delivered and slow.delivered
    assert fast_after < 1.5


def test_slack_and_teams_templates() -> None:
    slack = json.loads(render(alert(), "slack"))
    assert "ticker:ACME" in slack["text"] and slack["blocks"][0]["type"] == "section"
    assert any("ACME recalls cars" in b.get("text", {}).get("text", "") for b in slack["blocks"])
    teams = json.loads(render(alert(), "teams"))
    card = teams["attachments"][0]["content"]
    assert teams["attachments"][0]["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert card["type"] == "AdaptiveCard" and card["actions"][0]["url"].startswith("http://kibana")
    assert json.loads(render(alert(), "json"))["id"] == "a1-firing"
