"""Graceful shutdown: SIGTERM and SIGINT set an event that every loop checks."""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any


def stop_on_signals(log: Any) -> threading.Event:
    """An event set by SIGTERM or SIGINT (main thread only), logged once per signal."""
    stop = threading.Event()

    def _on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("stopping", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    return stop
