"""The team's labels as data: validated against the model's label spaces, stored in versions.

A label store is a folder of ``labels-0001.jsonl``, ``labels-0002.jsonl``, ... (one JSON
object a line, the fields of ``Label``) and a ``manifest.json`` listing the versions. Every
import writes a new version and never edits an old one, so a training run can name the
labels it used and an import can be undone by removing its file. Reading a folder reads all
versions in order; a later version's record replaces an earlier one with the same id (the
whole record: an analyst's newer verdict on an item is the verdict).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from classifier import labels as label_spaces

VERSION_NAME = re.compile(r"^labels-(\d{4,})\.jsonl$")
MANIFEST = "manifest.json"
FIELDS = ("id", "text", "sentiment", "topic", "source", "labelled_by", "labelled_at")


class LabelError(ValueError):
    """Labels that cannot be accepted; the message names the file and line or row."""


@dataclass(frozen=True)
class Label:
    """One analyst verdict on one item: either head's label, or both."""

    id: str
    text: str
    sentiment: str | None  # one of classifier.labels.SENTIMENT, or None
    topic: str | None  # one of classifier.labels.TOPICS, or None
    source: str | None = None
    labelled_by: str | None = None
    labelled_at: str | None = None  # ISO-8601 UTC


def canonical(value: str | None, names: Sequence[str]) -> str | None:
    """The label name ``value`` means (case-insensitive, exact otherwise); None when blank.

    Raises ``ValueError`` (the valid names listed) for anything else, so a typo never
    becomes a new class.
    """
    if value is None or not value.strip():
        return None
    wanted = value.strip().casefold()
    for name in names:
        if name.casefold() == wanted:
            return name
    raise ValueError(f"{value.strip()!r} is not one of: {', '.join(names)}")


def check(label: Label) -> Label:
    """``label`` with canonical label names; ``ValueError`` when it cannot be stored."""
    if not label.id:
        raise ValueError("empty id")
    sentiment = canonical(label.sentiment, label_spaces.SENTIMENT)
    topic = canonical(label.topic, label_spaces.TOPICS)
    if sentiment is None and topic is None:
        raise ValueError(f"{label.id}: neither a sentiment nor a topic label")
    return Label(
        label.id,
        label.text,
        sentiment,
        topic,
        label.source,
        label.labelled_by,
        label.labelled_at,
    )


def utc_now() -> str:
    """The current instant as ISO-8601 UTC with ``Z`` (``labelled_at``)."""
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def versions(folder: Path) -> list[Path]:
    """The store's version files, oldest first (by number, not by name or time)."""
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := VERSION_NAME.match(p.name))]
    return [path for _, path in sorted(found)]


def _number(path: Path) -> int:
    match = VERSION_NAME.match(path.name)
    return int(match.group(1)) if match else 0


def read_labels(path: Path) -> list[Label]:
    """All labels in a store folder (every version) or one JSONL file; a later record wins.

    Ids keep the order in which they were first labelled.
    """
    if not path.exists():
        raise LabelError(f"{path}: no such label file or folder")
    files = versions(path) if path.is_dir() else [path]
    latest: dict[str, Label] = {}
    for file in files:
        for label in _read_file(file):
            latest[label.id] = label
    return list(latest.values())


def _read_file(path: Path) -> Iterable[Label]:
    with path.open(encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                if not isinstance(record, dict):
                    raise ValueError("not a JSON object")
                yield check(_from_record(record))
            except (ValueError, TypeError) as exc:
                raise LabelError(f"{path}:{line_number}: {exc}") from None


def _from_record(record: dict[str, Any]) -> Label:
    values = {name: record.get(name) for name in FIELDS}
    for name, value in values.items():
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{name} must be a string or null")
    if not values["id"]:
        raise ValueError("missing id")
    return Label(
        id=str(values["id"]),
        text=values["text"] or "",
        sentiment=values["sentiment"],
        topic=values["topic"],
        source=values["source"],
        labelled_by=values["labelled_by"],
        labelled_at=values["labelled_at"],
    )


def write_version(
    folder: Path,
    labels: Sequence[Label],
    *,
    origin: str | None = None,
    input_sha256: str | None = None,
) -> Path:
    """Store ``labels`` as the store's next version and record it in the manifest.

    Every label is checked first (nothing is written when one fails). The file appears
    complete or not at all: it is written beside its final name, synced, then hard-linked
    into place, which refuses a name another writer took meanwhile (the next number is
    tried). ``origin`` (e.g. the imported file) and ``input_sha256`` (its digest: see
    ``find_version``) are kept in the manifest.
    """
    checked = [check(label) for label in labels]
    if not checked:
        raise LabelError("no labels to store")
    folder.mkdir(parents=True, exist_ok=True)
    body = "".join(json.dumps(asdict(label), ensure_ascii=False) + "\n" for label in checked)
    temp = _write_temp(folder, body)
    try:
        while True:
            existing = versions(folder)
            number = _number(existing[-1]) + 1 if existing else 1
            target = folder / f"labels-{number:04d}.jsonl"
            try:
                os.link(temp, target)
                break
            except FileExistsError:
                continue
    finally:
        temp.unlink(missing_ok=True)
    digest = hashlib.sha256(body.encode()).hexdigest()
    _record(folder, target, len(checked), digest, {"origin": origin, "input_sha256": input_sha256})
    return target


def find_version(folder: Path, input_sha256: str) -> Path | None:
    """The version already stored from an input with this digest (an import run again)."""
    for entry in manifest(folder).get("versions", []):
        if entry.get("input_sha256") == input_sha256 and (folder / entry["file"]).is_file():
            return folder / str(entry["file"])
    return None


def _write_temp(folder: Path, body: str) -> Path:
    handle, name = tempfile.mkstemp(prefix=".labels-", suffix=".tmp", dir=folder)
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(body)
        out.flush()
        os.fsync(out.fileno())
    return Path(name)


def manifest(folder: Path) -> dict[str, Any]:
    """The store's manifest: ``{"versions": [{"file", "labels", "sha256", "created_at", ...}]}``."""
    path = folder / MANIFEST
    if not path.is_file():
        return {"versions": []}
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


def _record(
    folder: Path, target: Path, count: int, digest: str, extra: dict[str, str | None]
) -> None:
    """Rewrite the manifest (atomically) with every version file present, ``target`` added."""
    known = {entry["file"]: entry for entry in manifest(folder).get("versions", [])}
    known[target.name] = {
        "file": target.name,
        "labels": count,
        "sha256": digest,
        "created_at": utc_now(),
        **{k: v for k, v in extra.items() if v},
    }
    entries = [known[p.name] for p in versions(folder) if p.name in known]
    temp = _write_temp(folder, json.dumps({"versions": entries}, indent=2) + "\n")
    os.replace(temp, folder / MANIFEST)
