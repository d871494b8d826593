"""Parse feed bytes (RSS/Atom via feedparser, Google News sitemaps) into field dicts.

Pure functions over bytes, shared by the live RSS source and the replay source. XML that
declares entities is refused before any parser sees it: feeds never need them, and it is
how entity-expansion bombs work.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

import feedparser

from ingest.errors import SourceError

ENTITY_DECL = re.compile(rb"<!ENTITY", re.IGNORECASE)
NEWS_NS = "http://www.google.com/schemas/sitemap-news/0.9"
SITEMAP_NS = "http://www.sitemaps.org/schemas/sitemap/0.9"
TICKER = re.compile(r"^[A-Z]{1,5}(\.[A-Z])?$")


def parse_feed(body: bytes, content_type: str = "") -> list[dict[str, Any]]:
    """Entries as dicts with guid, url, title, text, published, author, symbols."""
    if not body.strip():
        raise SourceError("empty_body", "the response body is empty")
    if ENTITY_DECL.search(body):  # anywhere: a DOCTYPE can follow a long comment
        raise SourceError("xml_entities", "the document declares XML entities; refused")
    if b"<urlset" in body[:2048]:
        return _parse_news_sitemap(body)
    headers = {"content-type": content_type} if content_type else {}
    parsed = feedparser.parse(body, response_headers=headers, sanitize_html=False)
    if not parsed.get("version"):
        problem = parsed.get("bozo_exception")
        detail = f"{type(problem).__name__}: {problem}" if problem else "no RSS/Atom root"
        raise SourceError("malformed" if problem else "not_a_feed", detail)
    symbols = _symbol_categories(body)
    entries = []
    for entry in parsed.entries:
        guid = entry.get("id") or entry.get("link")
        content = entry.get("content") or []
        summary = entry.get("summary") or (content[0].get("value") if content else "")
        entries.append(
            {
                "guid": guid,
                "url": entry.get("link"),
                "title": entry.get("title"),
                "text": summary,
                "published": entry.get("published") or entry.get("updated"),
                "author": entry.get("author"),
                "symbols": symbols.get(str(guid), []),
            }
        )
    return entries


def _symbol_categories(body: bytes) -> dict[str, list[str]]:
    """Seeking Alpha's <category type="symbol">, by item guid (feedparser drops `type`)."""
    if b'type="symbol"' not in body:
        return {}
    try:
        root = ET.fromstring(body)  # noqa: S314 - entity declarations were refused above
    except ET.ParseError:
        return {}
    found: dict[str, list[str]] = {}
    for item in root.iter("item"):
        guid = item.findtext("guid") or item.findtext("link") or ""
        found[guid.strip()] = [
            (c.text or "").strip()
            for c in item.findall("category")
            if c.get("type") == "symbol" and TICKER.match((c.text or "").strip())
        ]
    return found


def _parse_news_sitemap(body: bytes) -> list[dict[str, Any]]:
    """Google News sitemap <url> entries (title, date, stock_tickers)."""
    try:
        root = ET.fromstring(body)  # noqa: S314 - entity declarations were refused above
    except ET.ParseError as exc:
        raise SourceError("malformed", f"sitemap is not well-formed XML: {exc}") from exc
    if root.tag != f"{{{SITEMAP_NS}}}urlset":
        raise SourceError("not_a_feed", f"unexpected root element {root.tag}")
    entries = []
    for url in root.iter(f"{{{SITEMAP_NS}}}url"):
        news = url.find(f"{{{NEWS_NS}}}news")
        if news is None:
            continue
        tickers = news.findtext(f"{{{NEWS_NS}}}stock_tickers") or ""
        loc = (url.findtext(f"{{{SITEMAP_NS}}}loc") or "").strip()
        entries.append(
            {
                "guid": loc,
                "url": loc,
                "title": news.findtext(f"{{{NEWS_NS}}}title"),
                "text": "",
                "published": news.findtext(f"{{{NEWS_NS}}}publication_date"),
                "author": None,
                "symbols": [t.split(":")[-1].strip() for t in tickers.split(",") if t.strip()],
            }
        )
    if not entries:
        raise SourceError("not_a_feed", "a sitemap without news entries")
    return entries
