"""Comment authors are people: handles are replaced by a keyed hash before leaving ingest."""

from __future__ import annotations

import hashlib
import hmac


class AuthorPseudonymiser:
    """HMAC-SHA256 of the handle under a secret key: stable per author, not reversible."""

    def __init__(self, key: bytes | None) -> None:
        self._key = key  # None: raw handles kept (explicit opt-in)

    def __call__(self, source: str, handle: str | None) -> str | None:
        """The value stored in ``RawItem.author``."""
        if not handle:
            return None
        if self._key is None:
            return handle
        digest = hmac.new(self._key, f"{source}\x1f{handle}".encode(), hashlib.sha256)
        return f"anon:{digest.hexdigest()[:24]}"
