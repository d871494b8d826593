"""Labelled text: the tweet CSVs, Financial PhraseBank, de-duplication and dev splits.

A training run's train and dev examples come from its config (``load_examples``), and any
model folder's from the ``train_config.json`` beside it (``folder_examples``).
"""

from __future__ import annotations

import csv
import hashlib
import json
import random
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from classifier import labels as label_spaces
from classifier.training.config import TrainConfig

URL = re.compile(r"https?://\S+")
SPACE = re.compile(r"\s+")


class DataError(ValueError):
    """A labelled file that cannot be read as asked; the message names the file and row."""


@dataclass(frozen=True)
class Example:
    """One labelled text for one task."""

    text: str
    label: str
    task: str  # "sentiment" or "topic"


def normalise(text: str) -> str:
    """URL-stripped, lower-cased, whitespace-collapsed: the key for duplicates and splits."""
    return SPACE.sub(" ", URL.sub(" ", text.lower())).strip()


def read_csv(path: Path, task: str, names: dict[int, str] | Sequence[str]) -> list[Example]:
    """``text,label`` CSV (quoted multi-line fields allowed); integer labels mapped by ``names``.

    Label cells that are already label names are kept as they are.
    """
    lookup = dict(enumerate(names)) if isinstance(names, Sequence) else names
    known = set(lookup.values())
    examples = []
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or not {"text", "label"} <= set(reader.fieldnames):
            raise DataError(f"{path}: expected a header with 'text' and 'label'")
        for row_number, row in enumerate(reader, start=2):
            raw = (row["label"] or "").strip()
            if raw in known:
                label = raw
            elif raw.lstrip("-").isdigit() and int(raw) in lookup:
                label = lookup[int(raw)]
            else:
                raise DataError(f"{path}:{row_number}: label {raw!r} is not in the label map")
            examples.append(Example(row["text"], label, task))
    return examples


def read_phrasebank(path: Path) -> list[Example]:
    """Financial PhraseBank ``sentence@label`` lines (latin-1)."""
    examples = []
    for line_number, line in enumerate(path.read_text(encoding="latin-1").splitlines(), 1):
        if not line.strip():
            continue
        sentence, sep, label = line.rpartition("@")
        if not sep or label.strip() not in ("negative", "neutral", "positive"):
            raise DataError(f"{path}:{line_number}: expected 'sentence@label'")
        examples.append(Example(sentence.strip(), label.strip(), "sentiment"))
    return examples


def deduplicate(examples: Iterable[Example]) -> list[Example]:
    """Keep the first of each (task, normalised text); drop texts seen with conflicting labels."""
    first: dict[tuple[str, str], Example] = {}
    conflicting: set[tuple[str, str]] = set()
    for example in examples:
        key = (example.task, normalise(example.text))
        if key in first and first[key].label != example.label:
            conflicting.add(key)
        first.setdefault(key, example)
    return [ex for key, ex in first.items() if key not in conflicting]


# The settings of a train_config.json that decide its dev split, beside the two CSV files and
# the seed (``split_seed``).
SPLIT_SETTINGS = ("extra_data", "dev_fraction", "limit")


def split_seed(settings: Mapping[str, Any]) -> int:
    """The dev split's seed of a training config: ``split_seed``, else the training ``seed``."""
    pinned = settings.get("split_seed")
    return int(settings["seed"] if pinned is None else pinned)


def split(
    examples: Sequence[Example], dev_fraction: float, seed: int
) -> tuple[list[Example], list[Example]]:
    """A deterministic split by hash of the normalised text.

    A re-posted headline never lands on both sides, and the split does not move when rows
    are added or reordered.
    """
    train: list[Example] = []
    dev: list[Example] = []
    for example in examples:
        digest = hashlib.sha256(f"{seed}:{normalise(example.text)}".encode()).digest()
        (dev if int.from_bytes(digest[:8]) / 2**64 < dev_fraction else train).append(example)
    return train, dev


def load_examples(config: TrainConfig) -> tuple[list[Example], list[Example]]:
    """Train and dev examples of both tasks, de-duplicated, split deterministically."""
    sentiment = read_csv(config.sentiment_csv, "sentiment", label_spaces.TWEET_SENTIMENT_IDS)
    topic = read_csv(config.topic_csv, "topic", label_spaces.TOPICS)
    for spec in config.extra_data:
        kind, _, path = spec.partition(":")
        if kind != "fpb" or not path:
            raise ValueError(f"--extra-data {spec!r}: expected fpb:PATH")
        sentiment += read_phrasebank(Path(path))
    train: list[Example] = []
    dev: list[Example] = []
    seed = split_seed(vars(config))
    for examples in (sentiment, topic):
        unique = deduplicate(examples)
        if config.limit is not None and len(unique) > config.limit:
            unique = random.Random(seed).sample(unique, config.limit)
        task_train, task_dev = split(unique, config.dev_fraction, seed)
        train += task_train
        dev += task_dev
    return train, dev


def folder_examples(
    folder: Path, sentiment_csv: Path, topic_csv: Path
) -> tuple[list[Example], list[Example]]:
    """The train and dev examples of the run that wrote ``folder`` (its train_config.json).

    Only the settings that decide the split are read, so any folder's dev split can be rebuilt
    from the training files wherever they are now.
    """
    path = folder / "train_config.json"
    if not path.is_file():
        raise ValueError(f"{folder}: no train_config.json (its dev split is unknown)")
    settings = json.loads(path.read_text())
    keys = (*SPLIT_SETTINGS, "seed", "split_seed")
    chosen = {key: settings[key] for key in keys if key in settings}
    return load_examples(TrainConfig(sentiment_csv, topic_csv, folder, **chosen))
