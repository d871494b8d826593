import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from finsent.stack.artifacts import (
    Artifact,
    DownloadError,
    elasticsearch_artifact,
    fetch,
    kafka_artifacts,
)

BODY = b"pretend jar contents" * 100


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[tuple[str, list[str]]]:
    """A Maven-layout repository served over HTTP on loopback; yields (url, requested paths)."""
    root = tmp_path / "repo"
    jar = root / "org/example/lib/1.0/lib-1.0.jar"
    jar.parent.mkdir(parents=True)
    jar.write_bytes(BODY)
    requested: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(root), **kwargs)  # type: ignore[arg-type]

        def log_message(self, *args: object) -> None:
            requested.append(self.path)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", requested
    server.shutdown()


def lib(digest: str) -> Artifact:
    return Artifact("org.example", "lib", "1.0", digest)


def test_downloads_verifies_and_caches(repo: tuple[str, list[str]], tmp_path: Path) -> None:
    url, requested = repo
    good = lib(hashlib.sha256(BODY).hexdigest())
    path = fetch(good, url, tmp_path / "cache")
    assert path.read_bytes() == BODY
    assert fetch(good, url, tmp_path / "cache") == path
    assert len(requested) == 1, "a verified cached file is not downloaded again"


def test_checksum_mismatch_is_refused_and_not_cached(
    repo: tuple[str, list[str]], tmp_path: Path
) -> None:
    url, _ = repo
    with pytest.raises(DownloadError, match="sha256 mismatch"):
        fetch(lib("0" * 64), url, tmp_path / "cache")
    assert not [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]


def test_corrupted_cache_is_downloaded_again(repo: tuple[str, list[str]], tmp_path: Path) -> None:
    url, requested = repo
    good = lib(hashlib.sha256(BODY).hexdigest())
    path = fetch(good, url, tmp_path / "cache")
    path.write_bytes(b"truncated")
    assert fetch(good, url, tmp_path / "cache").read_bytes() == BODY
    assert len(requested) == 2


def test_http_error_names_the_url(repo: tuple[str, list[str]], tmp_path: Path) -> None:
    url, _ = repo
    missing = Artifact("org.example", "absent", "9", "0" * 64)
    with pytest.raises(DownloadError, match=r"absent-9\.jar: HTTP 404|HTTP 404"):
        fetch(missing, url, tmp_path / "cache")


def test_unreachable_repository_is_a_download_error(tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match=r"GET http://127\.0\.0\.1:9/"):
        fetch(lib("0" * 64), "http://127.0.0.1:9", tmp_path / "cache", timeout_s=2)


def test_pinned_sets_are_complete() -> None:
    jars = kafka_artifacts("4.1.1")
    names = {a.name for a in jars}
    assert {"kafka_2.13", "kafka-server", "kafka-raft", "kafka-clients", "scala-library"} <= names
    assert {"log4j-core", "log4j-slf4j-impl"} <= names, "the broker needs a logging backend"
    assert all(len(a.digest) == 64 for a in jars)
    es = elasticsearch_artifact("8.19.21")
    assert es.url("https://repo1.maven.org/maven2").endswith(
        "org/elasticsearch/distribution/integ-test-zip/elasticsearch/8.19.21/"
        "elasticsearch-8.19.21.zip"
    )
    assert len(es.digest) == 128
