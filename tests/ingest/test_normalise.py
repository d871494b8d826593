from datetime import UTC, datetime, timedelta

import pytest

from ingest.normalise import (
    canonical_url,
    clamp_published,
    clean_text,
    detect_language,
    parse_time,
    story_fingerprint,
)


def test_html_is_stripped_entities_decoded_space_collapsed() -> None:
    html = "<p>Stocks &amp; bonds<br/>rally</p>\n\n<script>track()</script><style>p{}</style> &#8217;ok"
    assert clean_text(html) == "Stocks & bonds rally \u2019ok"
    assert clean_text("  plain   text\n") == "plain text"
    assert clean_text(None) == ""


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Mon, 02 Mar 2026 14:30:00 GMT", datetime(2026, 3, 2, 14, 30, tzinfo=UTC)),
        ("Thu, 04 Oct 2018 01:14:45 EDT", datetime(2018, 10, 4, 5, 14, 45, tzinfo=UTC)),
        ("2026-03-02T09:30:00-05:00", datetime(2026, 3, 2, 14, 30, tzinfo=UTC)),
        ("2026-03-15T00:48:24.900Z", datetime(2026, 3, 15, 0, 48, 24, 900000, tzinfo=UTC)),
        (1467590690.0, datetime(2016, 7, 4, 0, 4, 50, tzinfo=UTC)),
        ("not a date", None),
        ("", None),
    ],
)
def test_parse_time(value: object, expected: datetime | None) -> None:
    assert parse_time(value) == expected


def test_missing_or_future_publication_is_clamped() -> None:
    fetched = datetime(2026, 3, 2, 12, tzinfo=UTC)
    assert clamp_published(None, fetched) == fetched
    assert clamp_published(fetched + timedelta(hours=3), fetched) == fetched
    assert clamp_published(fetched - timedelta(hours=3), fetched) == fetched - timedelta(hours=3)


def test_canonical_url_drops_tracking_and_fragment() -> None:
    assert (
        canonical_url("HTTPS://WWW.CNBC.com/a?utm_source=rss&id=7&fbclid=x#top")
        == "https://www.cnbc.com/a?id=7"
    )
    assert canonical_url("https://x.com/a?b=2&a=1") == "https://x.com/a?a=1&b=2"
    assert canonical_url("") is None


def test_story_fingerprint_links_syndicated_copies() -> None:
    a = story_fingerprint("Apple shares slide after weak iPhone guidance - Reuters")
    b = story_fingerprint("Apple Shares Slide After Weak iPhone Guidance")
    c = story_fingerprint("Apple shares slide after weak iPhone guidance | Yahoo Finance")
    assert a == b == c
    assert a != story_fingerprint("Apple shares jump after strong iPhone guidance")
    assert story_fingerprint("Hi") is None


def test_language() -> None:
    assert detect_language("Apple shares slide after weak iPhone guidance") == "en"
    assert detect_language("Die Aktie von Apple fällt nach einer schwachen Prognose") == "de"
    assert detect_language("ok") is None
