"""`finsent alerts tail`: follow alert events on the alerts topic in the terminal."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

from finsent.config import Settings
from finsent.reader import follow as follow_topic
from finsent.schemas import Alert, SchemaError, decode


def format_alert(alert: Alert) -> str:
    """One human-readable line."""
    return (
        f"{alert.created_at:%Y-%m-%d %H:%M:%S}Z {alert.status:<9} {alert.severity:<8} "
        f"{alert.key:<26} {alert.observed:g} negative vs {alert.expected:.1f} expected "
        f"(x{alert.ratio:.1f}, p={alert.p_value:.1e}) window {alert.window_start:%H:%M}-"
        f"{alert.window_end:%H:%M}Z"
        + (f"\n    top: {alert.samples[0].title[:100]}" if alert.samples else "")
    )


def follow(
    settings: Settings, last: int, stop: threading.Event, on_error: Callable[[str], None]
) -> Iterator[Alert]:
    """The last ``last`` events of each partition, then new ones as they come, until stopped."""
    for record in follow_topic(settings.kafka, settings.kafka.topics.alerts, last, stop):
        try:
            yield decode(Alert, record.value)
        except SchemaError as exc:
            on_error(f"partition {record.partition} offset {record.offset}: {exc.reason}")
