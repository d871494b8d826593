"""Structured logs: one JSON event per line on stderr, secrets never rendered."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog
from pydantic import SecretStr

from finsent.config import LoggingSettings

SECRET_KEY = re.compile(r"pass(word)?|secret|token|api_?key|authorization|credential", re.I)
MASK = "**********"


def redact(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Mask values whose key looks secret, and any SecretStr wherever it appears."""
    for key, value in list(event.items()):
        if isinstance(value, SecretStr) or (SECRET_KEY.search(key) and value is not None):
            event[key] = MASK
    return event


def configure(settings: LoggingSettings) -> None:
    """Set up structlog (and quieten chatty client libraries) once at start-up."""
    level = logging.getLevelNamesMapping()[settings.level]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if settings.format == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        # Look stderr up at each use: a stream captured at configure time may be closed later.
        logger_factory=lambda *_args: structlog.PrintLogger(sys.stderr),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=max(level, logging.WARNING), stream=sys.stderr)
    # kafka-python logs every refused connection at ERROR; finsent reports outages itself.
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    for noisy in ("elastic_transport", "httpx"):
        logging.getLogger(noisy).setLevel(logging.ERROR)


def get_logger(name: str) -> Any:
    """A bound logger tagged with the component name."""
    return structlog.get_logger(component=name)
