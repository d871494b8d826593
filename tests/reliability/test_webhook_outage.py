"""A webhook receiver that answers 500 for 20 s: every alert delivered afterwards, once each."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

from pydantic import SecretStr

from alerting.deliver.dispatcher import Dispatcher
from alerting.deliver.notifiers.webhook import WebhookNotifier
from alerting.deliver.outbox import Outbox
from alerting.testing import WebhookReceiver
from finsent.config import AlertingSettings, WebhookSettings
from finsent.schemas import encode
from tests.alerting.deliver.notifiers.test_webhook import alert


def test_receiver_down_for_20_s(tmp_path: Path) -> None:
    with WebhookReceiver(secret="s", fail_for_s=20, fail_status=500) as receiver:
        hook = WebhookSettings(name="risk", url=receiver.url, secret=SecretStr("s"))
        settings = AlertingSettings(webhooks=[hook], max_attempts=30, backoff_initial_s=0.5,
                                    backoff_max_s=4.0)  # fmt: skip
        outbox = Outbox(tmp_path / "outbox.sqlite3")
        dispatcher = Dispatcher(settings, outbox, None, {"risk": WebhookNotifier(hook)})
        for n in range(5):
            outbox.enqueue(f"a{n}-firing", "risk", encode(alert(n)))
        stop = threading.Event()
        started = time.monotonic()
        dispatcher.start(stop)
        while len(receiver.delivered) < 5 and time.monotonic() - started < 60:
            time.sleep(0.2)
        stop.set()
        dispatcher.join(5)
    statuses = Counter(r.status for r in receiver.requests)
    delivered = Counter(r.headers["idempotency-key"] for r in receiver.delivered)
    print(f"\nrequests {dict(statuses)}; delivered {sum(delivered.values())} "
          f"({len(delivered)} distinct) after {time.monotonic() - started:.1f} s")  # fmt: skip
    assert statuses[500] >= 5, "the outage was seen"
    assert delivered == Counter({f"a{n}-firing": 1 for n in range(5)}), "each exactly once"
    assert outbox.counts() == {"delivered": 5}
