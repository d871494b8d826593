from pathlib import Path

from finsent.config_sources import RssSourceConfig
from ingest.errors import SourceError
from ingest.items import ItemFactory
from ingest.privacy import AuthorPseudonymiser
from ingest.sources.base import SourceContext
from ingest.sources.rss import RssSource
from ingest.state import StateStore

from ..conftest import DATA, FeedServer, Route

CAPTURES = DATA / "feeds" / "real_captures"


def source(url: str, tmp_path: Path, **overrides: object) -> RssSource:
    config = RssSourceConfig(name="sa", url=url, allow_private_network=True, **overrides)
    rss = RssSource(config)
    rss.setup(
        SourceContext(
            StateStore(tmp_path / "s.db"), ItemFactory("sa", "news", AuthorPseudonymiser(b"k"))
        )
    )
    return rss


def test_items_with_symbols_and_conditional_get(feed_server: FeedServer, tmp_path: Path) -> None:
    body = (CAPTURES / "seekingalpha_AAPL_symbol_feed_2026-03.xml").read_bytes()

    def route(headers: dict[str, str]) -> Route:
        if headers.get("if-none-match") == '"abc"':
            return Route(304)
        return Route(200, body, {"ETag": '"abc"', "Content-Type": "application/rss+xml"})

    feed_server.routes["/feed"] = route
    rss = source(feed_server.url + "/feed", tmp_path)
    poll = rss.poll()
    assert len(poll.items) == 20
    first = poll.items[0]
    assert first.title == "Wall Street Week Ahead"
    assert "AAPL" in first.symbols
    assert first.url is not None and "source=" not in first.url, "tracking parameter removed"
    assert first.kind == "news" and first.lang == "en"
    assert first.published_at <= first.fetched_at
    assert poll.state["etag"] == '"abc"'
    assert rss.context is not None
    rss.context.state.put("source:sa", poll.state)  # what the Ingestor does once produced
    assert rss.poll().items == []
    assert feed_server.requests[-1][1]["if-none-match"] == '"abc"'


def test_bad_bodies_are_one_error_each(feed_server: FeedServer, tmp_path: Path) -> None:
    cases = {
        "/empty": ((CAPTURES / "dailytelegraph_EMPTY_0bytes.xml").read_bytes(), "empty_body"),
        "/repr": (
            (CAPTURES / "dailyfx_news_sitemap_2023-12_PYREPR_MALFORMED.xml").read_bytes(),
            "malformed",
        ),
        "/html": (b"<html><body>Not a feed</body></html>", "not_a_feed"),
    }
    for path, (body, reason) in cases.items():
        feed_server.serve(path, body)
        try:
            source(feed_server.url + path, tmp_path / path.strip("/")).poll()
        except SourceError as exc:
            assert exc.reason == reason, (path, exc)
        else:
            raise AssertionError(f"{path}: no error")


def test_empty_channel_is_a_normal_empty_poll(feed_server: FeedServer, tmp_path: Path) -> None:
    url = feed_server.serve(
        "/e", (CAPTURES / "reuters_investigations_unofficial_EMPTY_CHANNEL.xml").read_bytes()
    )
    assert source(url, tmp_path).poll().items == []
