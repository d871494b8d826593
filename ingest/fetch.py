"""HTTP fetching with hard limits: timeouts, body size, redirects, SSRF guard, conditional GET."""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

from finsent.config_sources import HttpSourceBase
from ingest.errors import SourceError

REDIRECTS = {301, 302, 303, 307, 308}


@dataclass
class Fetched:
    """A response body (or a 304) with the validators to send next time."""

    status: int
    url: str
    body: bytes = b""
    content_type: str = ""
    validators: dict[str, str | None] = field(default_factory=dict)


def redact_url(url: str) -> str:
    """The URL without credentials or query string (which may hold tokens), for logs."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def check_address(url: str, allow_private: bool) -> None:
    """Only http(s); loopback, private, link-local and reserved targets refused unless allowed."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SourceError("bad_url", f"only http(s) URLs are fetched, not {redact_url(url)!r}")
    if allow_private:
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise SourceError("dns", f"{parts.hostname}: {exc}") from exc
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global or address.is_multicast:
            raise SourceError(
                "private_address",
                f"{parts.hostname} resolves to {address}, refused (allow_private_network)",
            )


def _cut(response: httpx.Response) -> None:
    """Shut the response's socket down: a read blocked on it returns at once."""
    stream = response.extensions.get("network_stream")
    sock = stream.get_extra_info("socket") if stream is not None else None
    if sock is not None:
        with contextlib.suppress(OSError):  # already closed
            sock.shutdown(socket.SHUT_RDWR)
    response.close()


class HttpFetcher:
    """One client per source, reused across polls (connection pooling, gzip)."""

    def __init__(self, config: HttpSourceBase) -> None:
        self.config = config
        self.client = httpx.Client(
            timeout=httpx.Timeout(config.timeout_s),
            follow_redirects=False,
            headers={"User-Agent": config.user_agent, "Accept-Encoding": "gzip, deflate"},
        )

    def get(
        self,
        url: str,
        validators: dict[str, str | None] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Fetched:
        """GET with conditional headers; raises SourceError with a reason on any failure."""
        request_headers = dict(headers or {})
        if validators:
            if validators.get("etag"):
                request_headers["If-None-Match"] = str(validators["etag"])
            if validators.get("last_modified"):
                request_headers["If-Modified-Since"] = str(validators["last_modified"])
        deadline = time.monotonic() + self.config.total_timeout_s
        for _hop in range(self.config.max_redirects + 1):
            check_address(url, self.config.allow_private_network)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise SourceError("timeout", f"{redact_url(url)}: {self._too_slow}")
            timeout = httpx.Timeout(min(self.config.timeout_s, remaining))
            try:
                with self.client.stream(
                    "GET", url, headers=request_headers, timeout=timeout
                ) as response:
                    location = response.headers.get("location")
                    if response.status_code in REDIRECTS and location:
                        url = urljoin(url, location)
                        continue
                    return self._read(url, response, deadline)
            except httpx.TimeoutException as exc:
                raise SourceError("timeout", f"{redact_url(url)}: {type(exc).__name__}") from exc
            except httpx.HTTPError as exc:
                raise SourceError("connect", f"{redact_url(url)}: {type(exc).__name__}") from exc
        raise SourceError("redirects", f"more than {self.config.max_redirects} redirects")

    @property
    def _too_slow(self) -> str:
        return f"not complete within total_timeout_s={self.config.total_timeout_s:g}"

    def _read(self, url: str, response: httpx.Response, deadline: float) -> Fetched:
        if response.status_code == 304:
            return Fetched(304, url)
        if response.status_code >= 400:
            family = "http_5xx" if response.status_code >= 500 else f"http_{response.status_code}"
            raise SourceError(family, f"{redact_url(url)} answered {response.status_code}")
        declared = response.headers.get("content-length")
        limit = self.config.max_body_bytes
        if declared and declared.isdigit() and int(declared) > limit:
            raise SourceError("too_large", f"{declared} bytes declared, limit {limit}")
        chunks: list[bytes] = []
        size = 0
        # A server trickling bytes keeps every read within its timeout: a watchdog closes
        # the response at the deadline, so a read waiting for the next byte ends there.
        watchdog = threading.Timer(max(0.0, deadline - time.monotonic()), _cut, (response,))
        watchdog.daemon = True
        watchdog.start()
        try:
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > limit:
                    raise SourceError("too_large", f"body over {limit} bytes")
                if time.monotonic() > deadline:
                    raise SourceError("timeout", f"{redact_url(url)}: {self._too_slow}")
                chunks.append(chunk)
            if time.monotonic() >= deadline:  # cut by the watchdog: the body may be partial
                raise SourceError("timeout", f"{redact_url(url)}: {self._too_slow}")
        except httpx.HTTPError as exc:
            if time.monotonic() >= deadline:  # closed by the watchdog
                raise SourceError("timeout", f"{redact_url(url)}: {self._too_slow}") from exc
            raise
        finally:
            watchdog.cancel()
        return Fetched(
            response.status_code,
            url,
            b"".join(chunks),
            response.headers.get("content-type", ""),
            {
                "etag": response.headers.get("etag"),
                "last_modified": response.headers.get("last-modified"),
            },
        )

    def close(self) -> None:
        """Close the connection pool; a fetch in progress on another thread fails at once.

        That is how a shutdown cancels a stuck fetch instead of waiting for it.
        """
        self.client.close()
