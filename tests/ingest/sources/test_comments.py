"""Reddit and StockTwits sources against their recorded payloads, served on a real socket."""

import json
from pathlib import Path

import pytest

from finsent.config_sources import JsonSourceConfig, RedditSourceConfig, StocktwitsSourceConfig
from ingest.errors import SourceError
from ingest.items import ItemFactory
from ingest.privacy import AuthorPseudonymiser
from ingest.sources.base import SourceContext
from ingest.sources.json_api import JsonSource
from ingest.sources.reddit import RedditSource
from ingest.sources.stocktwits import StocktwitsSource
from ingest.state import StateStore

from ..conftest import DATA, FeedServer, Route

CASSETTE = DATA / "comments" / "reddit" / "TestSubredditListings.test_comments.json"
STREAM = DATA / "comments" / "stocktwits" / "api2_streams_symbol_AAPL_2020-01-05.json"


def context(tmp_path: Path, name: str) -> SourceContext:
    return SourceContext(
        StateStore(tmp_path / "s.db"), ItemFactory(name, "comment", AuthorPseudonymiser(b"k"))
    )


def reddit_listing() -> bytes:
    for interaction in json.loads(CASSETTE.read_text())["interactions"]:
        body: str = interaction["response"]["body"]["string"]
        if '"Listing"' in body:
            return body.encode()
    raise AssertionError("no listing in the cassette")


def test_reddit_cursor_and_empty_poll(feed_server: FeedServer, tmp_path: Path) -> None:
    listing = reddit_listing()
    empty = json.dumps({"kind": "Listing", "data": {"children": [], "after": None}}).encode()
    feed_server.routes["/r/stocks/comments.json"] = lambda h: Route(
        200, empty if "before=" in h["path"] else listing
    )
    reddit = RedditSource(RedditSourceConfig(name="reddit", url=feed_server.url + "/r/stocks/comments.json",
                                             allow_private_network=True, user_agent="finsent-test/1"))  # fmt: skip
    reddit.setup(context(tmp_path, "reddit"))
    poll = reddit.poll()
    assert len(poll.items) == 100
    comment = poll.items[0]
    assert comment.kind == "comment"
    assert comment.author is not None and comment.author.startswith("anon:")
    assert "preppypuppy" not in comment.model_dump_json(), "raw handle never leaves ingest"
    assert comment.extra["subreddit"] == "AskReddit"
    assert poll.state == {"before": "t1_d4y8bdp"}
    reddit.context.state.put("source:reddit", poll.state)  # type: ignore[union-attr]
    again = reddit.poll()
    assert again.items == [] and again.state == {"before": "t1_d4y8bdp"}
    assert "before=t1_d4y8bdp" in feed_server.requests[-1][0]
    assert feed_server.requests[-1][1]["user-agent"] == "finsent-test/1"


def test_stocktwits_since_cursor_and_user_sentiment(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    url = feed_server.serve("/api/2/streams/symbol/AAPL.json", STREAM.read_bytes())
    stocktwits = StocktwitsSource(
        StocktwitsSourceConfig(name="st", url=url, allow_private_network=True)
    )
    stocktwits.setup(context(tmp_path, "st"))
    poll = stocktwits.poll()
    payload = json.loads(STREAM.read_text())
    assert len(poll.items) == len(payload["messages"])
    bullish = [i for i in poll.items if i.extra.get("user_sentiment") == "Bullish"]
    assert bullish and "AAPL" in bullish[0].symbols
    assert poll.state == {"since": str(max(m["id"] for m in payload["messages"]))}
    stocktwits.context.state.put("source:st", poll.state)  # type: ignore[union-attr]
    stocktwits.poll()
    assert f"since={poll.state['since']}" in feed_server.requests[-1][0]


@pytest.mark.parametrize(
    "body", [b"{not json", b'{"messages": "nope"}', b"[]", b"[" * 100_000 + b"]" * 100_000]
)
def test_invalid_json_is_an_error(feed_server: FeedServer, tmp_path: Path, body: bytes) -> None:
    url = feed_server.serve("/s.json", body)
    stocktwits = StocktwitsSource(
        StocktwitsSourceConfig(name="st", url=url, allow_private_network=True)
    )
    stocktwits.setup(context(tmp_path, "st"))
    with pytest.raises(SourceError) as err:
        stocktwits.poll()
    assert err.value.reason == "invalid_json"


def test_json_endpoint_mapping(feed_server: FeedServer, tmp_path: Path) -> None:
    payload = {"data": {"articles": [
        {"id": 7, "link": "https://n.example/a?utm_source=x", "headline": "Oil <b>jumps</b>",
         "summary": "OPEC+ cuts", "published": "2026-03-02T10:00:00Z", "tickers": ["XOM", "CVX"]},
        {"id": 8, "headline": "", "summary": ""},
    ]}}  # fmt: skip
    url = feed_server.serve("/api", json.dumps(payload).encode())
    config = JsonSourceConfig(
        name="vendor", url=url, allow_private_network=True, items_path="data.articles",
        fields={"guid": "id", "url": "link", "title": "headline", "text": "summary",
                "published_at": "published", "symbols": "tickers"},
    )  # fmt: skip
    source = JsonSource(config)
    source.setup(context(tmp_path, "vendor"))
    poll = source.poll()
    (item,) = poll.items  # the empty entry became no item
    assert item.title == "Oil jumps" and item.url == "https://n.example/a"
    assert item.symbols == ["CVX", "XOM"]
    assert item.published_at.isoformat() == "2026-03-02T10:00:00+00:00"
    with pytest.raises(ValueError, match="must map guid or url"):
        JsonSource(config.model_copy(update={"fields": {"title": "headline"}}))


def test_reddit_oauth_token_is_used_and_never_logged(
    feed_server: FeedServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pydantic import SecretStr

    feed_server.serve("/api/v1/access_token", json.dumps({"access_token": "tok-123"}).encode())
    url = feed_server.serve("/r/stocks/new.json", reddit_listing())
    reddit = RedditSource(RedditSourceConfig(
        name="reddit", url=url, allow_private_network=True, client_id="app",
        client_secret=SecretStr("s3cret-value"), token_url=feed_server.url + "/api/v1/access_token",
    ))  # fmt: skip
    reddit.setup(context(tmp_path, "reddit"))
    assert len(reddit.poll().items) == 100
    token_request = next(h for p, h in feed_server.requests if p == "/api/v1/access_token")
    assert token_request["authorization"].startswith("Basic ")
    listing_request = feed_server.requests[-1][1]
    assert listing_request["authorization"] == "bearer tok-123"
    assert (
        "s3cret-value" not in repr(reddit.config) and "s3cret-value" not in capsys.readouterr().err
    )
    feed_server.routes["/api/v1/access_token"] = Route(401, b"no")
    reddit._token = None
    with pytest.raises(SourceError) as err:
        reddit.poll()
    assert err.value.reason == "auth"


def test_an_entry_that_cannot_become_an_item_is_a_problem_not_a_failed_poll(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    payload = {"data": [
        {"id": 1, "headline": {"text": "an object, not a title"}},
        {"id": 2, "headline": ["a", "list"]},
        {"id": 3, "headline": "Oil jumps"},
    ]}  # fmt: skip
    url = feed_server.serve("/api", json.dumps(payload).encode())
    config = JsonSourceConfig(name="vendor", url=url, allow_private_network=True,
                              items_path="data", fields={"guid": "id", "title": "headline"})  # fmt: skip
    source = JsonSource(config)
    source.setup(context(tmp_path, "vendor"))
    poll = source.poll()
    assert [i.title for i in poll.items] == ["Oil jumps"], "the valid records are kept"
    assert [reason for reason, _ in poll.problems] == ["invalid_entry", "invalid_entry"]
    assert poll.problems[0][1].startswith("entry 0")
