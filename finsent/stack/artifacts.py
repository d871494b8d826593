"""Pinned server downloads from Maven Central, verified by checksum, cached outside the repo."""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import httpx

ES_SHA512 = {
    # org.elasticsearch.distribution.integ-test-zip:elasticsearch. No 9.x line is published
    # in this form on Maven Central (its newest is 8.19.21, checked 2026-11-28).
    "8.19.21": (
        "cf6b0a93860d329937ae7f913ec5073b0c726c77639764b93fc83a304aa1dd9d"
        "4defcfa2849948eea3b0b47c2065f994908603939fc2a4774c9c4d868c5ec1dd"
    ),
}


class DownloadError(RuntimeError):
    """A server artifact could not be fetched or failed its checksum."""


@dataclass(frozen=True)
class Artifact:
    """One Maven file with its expected digest."""

    group: str
    name: str
    version: str
    digest: str
    algorithm: str = "sha256"
    extension: str = "jar"

    @property
    def filename(self) -> str:
        """File name in the repository and in the cache."""
        return f"{self.name}-{self.version}.{self.extension}"

    def url(self, repository: str) -> str:
        """Download address in a Maven layout repository."""
        group_path = self.group.replace(".", "/")
        return f"{repository.rstrip('/')}/{group_path}/{self.name}/{self.version}/{self.filename}"


def kafka_artifacts(version: str) -> list[Artifact]:
    """The broker jar and its runtime dependencies, as resolved and hashed in the lock file."""
    lock = resources.files("finsent.stack").joinpath(f"kafka-{version}.lock")
    artifacts = []
    for line in lock.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            coordinates, digest = line.split("\t")
            group, name, art_version = coordinates.split(":")
            artifacts.append(Artifact(group, name, art_version, digest))
    return artifacts


def elasticsearch_artifact(version: str) -> Artifact:
    """The Elasticsearch distribution zip."""
    return Artifact(
        "org.elasticsearch.distribution.integ-test-zip",
        "elasticsearch",
        version,
        ES_SHA512[version],
        algorithm="sha512",
        extension="zip",
    )


def _digest(path: Path, algorithm: str) -> str:
    hasher = hashlib.new(algorithm)
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            hasher.update(block)
    return hasher.hexdigest()


def fetch(artifact: Artifact, repository: str, cache_dir: Path, timeout_s: float = 60.0) -> Path:
    """Return the verified cached file, downloading it first if needed.

    A cached file whose digest no longer matches is downloaded again; a download that does
    not match is deleted and reported, never used.
    """
    target_dir = cache_dir / artifact.group / artifact.name / artifact.version
    target = target_dir / artifact.filename
    if target.exists() and _digest(target, artifact.algorithm) == artifact.digest:
        return target
    target_dir.mkdir(parents=True, exist_ok=True)
    url = artifact.url(repository)
    fd, tmp_name = tempfile.mkstemp(dir=target_dir, prefix=".part-")
    tmp = Path(tmp_name)
    try:
        with (
            os.fdopen(fd, "wb") as out,
            httpx.stream("GET", url, timeout=timeout_s, follow_redirects=True) as response,
        ):
            if response.status_code != 200:
                raise DownloadError(f"GET {url}: HTTP {response.status_code}")
            for chunk in response.iter_bytes(1 << 20):
                out.write(chunk)
        actual = _digest(tmp, artifact.algorithm)
        if actual != artifact.digest:
            raise DownloadError(
                f"{url}: {artifact.algorithm} mismatch (expected {artifact.digest[:16]}..., "
                f"got {actual[:16]}...); refusing to use it"
            )
        tmp.replace(target)
        return target
    except httpx.HTTPError as exc:
        raise DownloadError(f"GET {url}: {exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
