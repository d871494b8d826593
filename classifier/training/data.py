"""Labelled text: the tweet CSVs, Financial PhraseBank, the team's labels, dev splits.

A training run's train and dev examples come from its config (``load_examples``, or
``load_data`` with the team's held-back labels and the sources' sizes), and any model folder's
from the ``train_config.json`` beside it (``folder_examples``).

The team's labels (``--extra-data labels:PATH``) never touch the public dev split: it is built
from the public files first, byte-identical with or without labels; the labels are then split
by a hash of their text into a training part and a held-back part (``labels_held_back``, stable
as labels are added), and a team text that is in the public dev split is not trained on.
"""

from __future__ import annotations

import csv
import hashlib
import json
import random
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from classifier import labels as label_spaces
from classifier.training.config import TrainConfig
from classifier.training.labelset import read_labels

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
    weight: float = 1.0  # the example's share of the loss (team labels: --labels-weight)
    source: str = ""  # which data source it came from (a key of ``Data.sources``)


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
SPLIT_SETTINGS = (
    "extra_data",
    "dev_fraction",
    "limit",
    "labels_held_back",
    "labels_weight",
    "labels_licence",
    "replay",
)
LABELS_SALT = "finsent-team-labels"
"""Salts the team labels' split: independent of the public split's seed, fixed forever."""
TWEETS_LICENCE = "MIT"
FPB_LICENCE = "CC BY-NC-SA 3.0 (non-commercial)"


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


@dataclass
class Data:
    """A run's examples: train, public dev, the team's held-back labels, and where each came from.

    ``sources`` maps a source name to its licence and its counts per part and task.
    """

    train: list[Example]
    dev: list[Example]
    held_back: list[Example]
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)


def _spec(spec: str) -> tuple[str, Path]:
    kind, _, path = spec.partition(":")
    if kind not in ("fpb", "labels") or not path:
        raise ValueError(f"--extra-data {spec!r}: expected fpb:PATH or labels:PATH")
    return kind, Path(path)


def team_examples(path: Path, weight: float = 1.0) -> list[Example]:
    """The team's labels (a label store folder or one JSONL file) as examples of both tasks.

    A label carries sentiment, topic or both; each one it carries is an example. Exact
    duplicates and texts labelled both ways are dropped, as for the public files.
    """
    source = f"labels:{path}"
    examples = []
    for label in read_labels(path):
        for task, value, names in (
            ("sentiment", label.sentiment, label_spaces.SENTIMENT),
            ("topic", label.topic, label_spaces.TOPICS),
        ):
            if value is None:
                continue
            if value not in names:
                raise DataError(f"{path}: label {label.id}: {value!r} is not a {task} label")
            examples.append(Example(label.text, value, task, weight, source))
    return deduplicate(examples)


def held_back(text: str, fraction: float) -> bool:
    """Whether a team label's text is in the held-back part (a hash, stable as labels grow)."""
    digest = hashlib.sha256(f"{LABELS_SALT}:{normalise(text)}".encode()).digest()
    return int.from_bytes(digest[:8]) / 2**64 < fraction


def load_data(config: TrainConfig) -> Data:
    """Train, public dev and held-back examples of both tasks, split deterministically."""
    sentiment = [
        replace(e, source="tweets-sentiment")
        for e in read_csv(config.sentiment_csv, "sentiment", label_spaces.TWEET_SENTIMENT_IDS)
    ]
    topic = [
        replace(e, source="tweets-topic")
        for e in read_csv(config.topic_csv, "topic", label_spaces.TOPICS)
    ]
    licences = {"tweets-sentiment": TWEETS_LICENCE, "tweets-topic": TWEETS_LICENCE}
    team: list[Example] = []
    for kind, path in map(_spec, config.extra_data):
        if kind == "fpb":
            sentiment += [replace(e, source=f"fpb:{path}") for e in read_phrasebank(path)]
            licences[f"fpb:{path}"] = FPB_LICENCE
        else:
            team += team_examples(path, config.labels_weight)
            licences[f"labels:{path}"] = config.labels_licence
    train: list[Example] = []
    dev: list[Example] = []
    seed = split_seed(vars(config))
    for examples in (sentiment, topic):
        unique = deduplicate(examples)
        if config.limit is not None and len(unique) > config.limit:
            unique = random.Random(seed).sample(unique, config.limit)
        task_train, task_dev = split(unique, config.dev_fraction, seed)
        if config.replay is not None and len(task_train) > config.replay:
            task_train = random.Random(seed).sample(task_train, config.replay)
        train += task_train
        dev += task_dev
    kept = [e for e in team if not held_back(e.text, config.labels_held_back)]
    back = [e for e in team if held_back(e.text, config.labels_held_back)]
    public_dev = {normalise(e.text) for e in dev}
    back_texts = {normalise(e.text) for e in back}
    train = [e for e in train if normalise(e.text) not in back_texts]
    train += [e for e in kept if normalise(e.text) not in public_dev]
    counts = Counter(
        (e.source, part, e.task)
        for part, examples in (("train", train), ("dev", dev), ("held_back", back))
        for e in examples
    )
    sources = {
        name: {
            "licence": licence,
            "non_commercial": non_commercial(licence),
            **{
                part: {
                    task: counts[(name, part, task)]
                    for task in ("sentiment", "topic")
                    if counts[(name, part, task)]
                }
                for part in ("train", "dev", "held_back")
            },
        }
        for name, licence in licences.items()
    }
    return Data(train, dev, back, sources)


def non_commercial(licence: str) -> bool:
    """Whether a licence forbids commercial use (its name says NC or non-commercial)."""
    lowered = licence.lower()
    return "-nc" in lowered or "non-commercial" in lowered or "noncommercial" in lowered


def load_examples(config: TrainConfig) -> tuple[list[Example], list[Example]]:
    """Train and dev examples of both tasks, de-duplicated, split deterministically."""
    data = load_data(config)
    return data.train, data.dev


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
