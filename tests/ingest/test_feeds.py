"""Every real capture and edge case yields items or one clear SourceError, never a crash."""

import time
from pathlib import Path

import pytest

from ingest.errors import SourceError
from ingest.feeds import parse_feed

from .conftest import DATA

FEEDS = DATA / "feeds"
ALL_FIXTURES = sorted(
    p
    for d in ("real_captures", "aggregator", "feedparser_edge_cases")
    for p in (FEEDS / d).rglob("*.xml")
)

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<rss version="2.0"><channel><title>&lol9;</title><item><title>&lol9;</title></item></channel></rss>
"""


@pytest.mark.parametrize("path", ALL_FIXTURES, ids=lambda p: p.name)
def test_every_fixture_gives_items_or_a_feed_error(path: Path) -> None:
    try:
        entries = parse_feed(path.read_bytes())
    except SourceError as exc:
        assert exc.reason in {"empty_body", "malformed", "not_a_feed", "xml_entities"}
        return
    for entry in entries:
        assert set(entry) == {"guid", "url", "title", "text", "published", "author", "symbols"}


@pytest.mark.parametrize(
    ("name", "count"),
    [
        ("cnbc_finance_2019-07.xml", 30),
        ("cnbc_international_top_news_2026-03.xml", 30),
        ("wsj_world_news_2021-10.xml", 6),
        ("seekingalpha_AAPL_symbol_feed_2026-03.xml", 20),
        ("bloomberg_news_sitemap_2026-03.xml", 16),
        ("reuters_investigations_unofficial_EMPTY_CHANNEL.xml", 0),
    ],
)
def test_real_captures(name: str, count: int) -> None:
    assert len(parse_feed((FEEDS / "real_captures" / name).read_bytes())) == count


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("dailytelegraph_EMPTY_0bytes.xml", "empty_body"),
        ("dailyfx_news_sitemap_2023-12_PYREPR_MALFORMED.xml", "malformed"),
    ],
)
def test_broken_captures_are_clear_errors(name: str, reason: str) -> None:
    with pytest.raises(SourceError) as err:
        parse_feed((FEEDS / "real_captures" / name).read_bytes())
    assert err.value.reason == reason


def test_seeking_alpha_symbol_categories() -> None:
    entries = parse_feed(
        (FEEDS / "real_captures" / "seekingalpha_AAPL_symbol_feed_2026-03.xml").read_bytes()
    )
    assert "AAPL" in entries[0]["symbols"]
    assert "Wall Street Breakfast" not in entries[0]["symbols"]


def test_news_sitemap_stock_tickers() -> None:
    body = (
        b'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
        b'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9"><url><loc>https://x.com/a</loc>'
        b"<news:news><news:publication_date>2026-03-01T10:00:00Z</news:publication_date>"
        b"<news:title>Apple and Microsoft rally</news:title>"
        b"<news:stock_tickers>NASDAQ:AAPL, NASDAQ:MSFT</news:stock_tickers></news:news></url></urlset>"
    )
    (entry,) = parse_feed(body)
    assert entry["symbols"] == ["AAPL", "MSFT"]


def test_an_entity_declaration_past_the_first_64_kb_is_refused_too() -> None:
    padded = (
        b'<?xml version="1.0"?>\n<!--'
        + b"x" * 70_000
        + b"-->\n"
        + BILLION_LAUGHS.split(b"?>", 1)[-1]
    )
    with pytest.raises(SourceError) as err:
        parse_feed(padded)
    assert err.value.reason == "xml_entities"


def test_entity_bomb_is_refused_fast() -> None:
    started = time.perf_counter()
    with pytest.raises(SourceError) as err:
        parse_feed(BILLION_LAUGHS)
    assert err.value.reason == "xml_entities"
    assert time.perf_counter() - started < 1.0
