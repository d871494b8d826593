"""Build RawItems from whatever a source parsed: one normalisation path for every source."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from finsent.schemas import RawItem, make_item_id
from ingest.normalise import (
    canonical_url,
    clamp_published,
    clean_text,
    detect_language,
    parse_time,
    story_fingerprint,
)
from ingest.privacy import AuthorPseudonymiser

WEB = ("http://", "https://")
"""The only links an item keeps: feed text is untrusted (no javascript:, data:, file:)."""


class ItemFactory:
    """Normalises fields into a RawItem for one source."""

    def __init__(self, source: str, kind: str, pseudonymise: AuthorPseudonymiser) -> None:
        self.source = source
        self.kind = kind
        self.pseudonymise = pseudonymise

    def make(
        self,
        *,
        fetched_at: datetime,
        guid: str | None = None,
        url: str | None = None,
        title: str | None = None,
        text: str | None = None,
        published: Any = None,
        author: str | None = None,
        symbols: Iterable[str] = (),
        extra: dict[str, Any] | None = None,
        kind: str | None = None,
    ) -> RawItem | None:
        """The item, or None when it has nothing to read or nothing to identify it by."""
        clean_title = clean_text(title)
        clean_body = clean_text(text)
        if not clean_title and not clean_body:
            return None
        link = canonical_url(url)
        key = (guid or "").strip() or link
        if not key:
            return None
        tickers = sorted({s.strip().lstrip("$").upper() for s in symbols if s and s.strip()})
        return RawItem(
            id=make_item_id(self.source, key),
            source=self.source,
            kind=kind or self.kind,
            title=clean_title,
            text=clean_body,
            url=link if link is not None and link.lower().startswith(WEB) else None,
            published_at=clamp_published(parse_time(published), fetched_at),
            fetched_at=fetched_at,
            lang=detect_language(f"{clean_title} {clean_body}"),
            symbols=tickers,
            author=self.pseudonymise(self.source, author),
            story_id=story_fingerprint(clean_title or clean_body[:200]),
            extra=extra or {},
        )
