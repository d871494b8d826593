from pathlib import Path

from ingest.privacy import AuthorPseudonymiser
from ingest.state import StateStore


def test_seen_ids_persist_and_stay_bounded(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    store = StateStore(path, max_seen=1000)
    store.mark_seen(f"id{i}" for i in range(1500))
    assert store.seen_count() == 1000
    assert store.unseen(["id0", "id499", "id500", "id1499", "new"]) == {"id0", "id499", "new"}
    store.close()
    reopened = StateStore(path, max_seen=1000)
    assert reopened.seen_count() == 1000
    assert reopened.unseen(["id1499", "id0"]) == {"id0"}
    reopened.mark_seen(["id1499"])  # already known: count unchanged
    assert reopened.seen_count() == 1000


def test_key_values_and_secret(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "s.sqlite3")
    store.put("source:a", {"etag": '"x"', "cursor": "t1_abc"})
    store.put("source:a", {"etag": None})
    assert store.get("source:a", "etag") is None
    assert store.get("source:a", "cursor") == "t1_abc"
    key = store.secret("author_key")
    assert len(key) == 32 and store.secret("author_key") == key
    store.close()
    assert StateStore(tmp_path / "s.sqlite3").secret("author_key") == key


def test_pseudonymised_authors_are_stable_and_keyed() -> None:
    one = AuthorPseudonymiser(b"k1")
    assert one("reddit", "alice") == one("reddit", "alice")
    assert one("reddit", "alice") != one("reddit", "bob")
    assert one("reddit", "alice") != AuthorPseudonymiser(b"k2")("reddit", "alice")
    assert "alice" not in (one("reddit", "alice") or "")
    assert one("reddit", None) is None
    assert AuthorPseudonymiser(None)("reddit", "alice") == "alice"  # explicit opt-in
