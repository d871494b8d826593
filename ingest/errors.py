"""The one error of ingest: a failed fetch, parse or poll of one source."""

from __future__ import annotations


class SourceError(Exception):
    """One failed poll of one source; ``reason`` is a short metric label, ``detail`` the why.

    Fetching (``ingest.fetch``), parsing (``ingest.feeds``) and every source raise it, so
    the service counts, logs and backs off on one kind of failure.
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
