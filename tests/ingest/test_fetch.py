import pytest

from finsent.config_sources import RssSourceConfig
from ingest.errors import SourceError
from ingest.fetch import HttpFetcher, redact_url
from tests.wait import wait_until

from .conftest import FeedServer, Route


def fetcher(**overrides: object) -> HttpFetcher:
    values: dict = {"name": "t", "url": "http://x", "allow_private_network": True} | overrides  # type: ignore[type-arg]
    return HttpFetcher(RssSourceConfig(**values))


@pytest.mark.parametrize(
    ("status", "reason"),
    [(404, "http_404"), (429, "http_429"), (500, "http_5xx"), (503, "http_5xx")],
)
def test_http_errors_have_reasons(feed_server: FeedServer, status: int, reason: str) -> None:
    url = feed_server.serve("/f", b"x", status=status)
    with pytest.raises(SourceError) as err:
        fetcher().get(url)
    assert err.value.reason == reason


def test_timeout(feed_server: FeedServer) -> None:
    url = feed_server.serve("/slow", b"x", delay_s=2)
    with pytest.raises(SourceError) as err:
        fetcher(timeout_s=0.3).get(url)
    assert err.value.reason == "timeout"


def test_a_trickling_server_cannot_hold_a_fetch_past_its_total_deadline(
    feed_server: FeedServer,
) -> None:
    import time

    url = feed_server.serve("/trickle", b"<rss>" + b"x" * 200, trickle_s=0.05)  # 10 s in all
    started = time.monotonic()
    with pytest.raises(SourceError) as err:
        fetcher(timeout_s=1.0, total_timeout_s=1.0).get(url)  # each byte within the read timeout
    assert err.value.reason == "timeout" and "total_timeout_s" in err.value.detail
    assert time.monotonic() - started < 3.0


def test_the_total_deadline_holds_while_a_read_is_waiting_for_a_byte(
    feed_server: FeedServer,
) -> None:
    import time

    # a byte every 0.8 s: each read finishes within the read timeout, but the deadline of
    # 1 s passes while the second read waits; checking only between reads overshoots it
    url = feed_server.serve("/drip", b"<rss>" + b"x" * 20, trickle_s=0.8)
    started = time.monotonic()
    with pytest.raises(SourceError) as err:
        fetcher(timeout_s=2.0, total_timeout_s=1.0).get(url)
    took = time.monotonic() - started
    assert err.value.reason == "timeout"
    assert took < 1.4, f"the fetch ended {took:.2f} s after it began, deadline 1 s"


def test_closing_the_fetcher_cancels_a_fetch_in_progress(feed_server: FeedServer) -> None:
    import threading
    import time

    url = feed_server.serve("/stuck", b"<rss>" + b"x" * 100, trickle_s=0.2)  # 20 s in all
    stuck = fetcher(timeout_s=5.0, total_timeout_s=60.0)
    outcome: list[str] = []

    def fetch() -> None:
        try:
            stuck.get(url)
            outcome.append("done")
        except SourceError as exc:
            outcome.append(exc.reason)

    thread = threading.Thread(target=fetch)
    thread.start()
    wait_until(lambda: feed_server.requests, 5, "the request to arrive")
    time.sleep(0.3)  # the body is being trickled now
    started = time.monotonic()
    stuck.close()
    thread.join(5)
    assert not thread.is_alive() and outcome and outcome[0] != "done"
    assert time.monotonic() - started < 5.0


def test_oversized_body_is_refused(feed_server: FeedServer) -> None:
    url = feed_server.serve("/big", b"x" * 20_000)
    with pytest.raises(SourceError) as err:
        fetcher(max_body_bytes=10_000).get(url)
    assert err.value.reason == "too_large"


def test_gzip_and_redirects(feed_server: FeedServer) -> None:
    feed_server.serve("/final", b"<rss/>" * 100, gzip=True)
    feed_server.serve("/hop1", status=302, headers={"Location": "/final"})
    got = fetcher().get(feed_server.url + "/hop1")
    assert got.body == b"<rss/>" * 100
    assert got.url.endswith("/final")
    feed_server.routes["/loop"] = Route(302, headers={"Location": "/loop"})
    with pytest.raises(SourceError) as err:
        fetcher(max_redirects=3).get(feed_server.url + "/loop")
    assert err.value.reason == "redirects"


def test_conditional_get(feed_server: FeedServer) -> None:
    def route(headers: dict[str, str]) -> Route:
        if headers.get("if-none-match") == '"v1"':
            return Route(304)
        return Route(
            200, b"body", {"ETag": '"v1"', "Last-Modified": "Mon, 02 Mar 2026 10:00:00 GMT"}
        )

    feed_server.routes["/c"] = route
    first = fetcher().get(feed_server.url + "/c")
    assert first.validators == {"etag": '"v1"', "last_modified": "Mon, 02 Mar 2026 10:00:00 GMT"}
    second = fetcher().get(feed_server.url + "/c", first.validators)
    assert second.status == 304
    assert feed_server.requests[-1][1]["if-modified-since"] == "Mon, 02 Mar 2026 10:00:00 GMT"


def test_ssrf_guard(feed_server: FeedServer) -> None:
    url = feed_server.serve("/f", b"x")
    with pytest.raises(SourceError) as err:
        fetcher(allow_private_network=False).get(url)
    assert err.value.reason == "private_address"
    for bad in ("file:///etc/passwd", "ftp://example.com/x", "gopher://x"):
        with pytest.raises(SourceError) as err:
            fetcher().get(bad)
        assert err.value.reason == "bad_url"
    with pytest.raises(SourceError) as err:
        fetcher(allow_private_network=False).get("http://10.1.2.3/feed")
    assert err.value.reason == "private_address"


def test_redact_url_drops_credentials_and_query() -> None:
    assert (
        redact_url("https://user:pw@api.x.com:8443/v1/feed?token=s3cr3t")
        == "https://api.x.com:8443/v1/feed"
    )
