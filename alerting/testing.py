"""A real webhook receiver on loopback, for tests, benchmarks and trying a config out.

It records every request, verifies the signature when given the secret, and can fail on
purpose: the first ``fail_first`` requests, or every request during the first ``fail_for_s``
seconds, get ``fail_status``.
"""

from __future__ import annotations

import http.server
import json
import threading
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from alerting.deliver.notifiers.base import verify


@dataclass
class Received:
    """One request as the receiver saw it."""

    headers: dict[str, str]
    body: bytes
    status: int  # what the receiver answered
    verified: bool | None  # None: no secret to check with

    def json(self) -> Any:
        """The body parsed."""
        return json.loads(self.body)


@dataclass
class WebhookReceiver:
    """Loopback HTTP server; use as a context manager."""

    secret: str | None = None
    fail_first: int = 0
    fail_for_s: float = 0.0
    fail_status: int = 500
    delay_s: float = 0.0
    requests: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._started = time.monotonic()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                status = receiver._answer({k.lower(): v for k, v in self.headers.items()}, body)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """Where to POST."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/hook"

    def _answer(self, headers: dict[str, str], body: bytes) -> int:
        if self.delay_s:
            time.sleep(self.delay_s)
        with self._lock:
            failing = len(self.requests) < self.fail_first or (
                time.monotonic() - self._started < self.fail_for_s
            )
            status = self.fail_status if failing else 200
            verified = None
            if self.secret is not None:
                verified = verify(
                    self.secret, headers.get("x-finsent-timestamp", ""), body,
                    headers.get("x-finsent-signature", ""),
                )  # fmt: skip
            self.requests.append(Received(headers, body, status, verified))
        return status

    @property
    def delivered(self) -> list[Received]:
        """Requests answered 2xx."""
        with self._lock:
            return [r for r in self.requests if r.status == 200]

    def __enter__(self) -> WebhookReceiver:
        self._started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
