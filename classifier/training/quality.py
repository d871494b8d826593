"""Model quality against a plain fine-tune trained in the same run, on the same dev split.

Baseline = what a user would do instead: Hugging Face ``AutoModelForSequenceClassification`` on
the model's base, sentiment only, with the recipe the issue measured on the held-out
validation split for calibration (3 epochs, lr 5e-5, max length 64; where the issue is silent:
AdamW, batch 32, linear decay without warm-up). There it reached accuracy 0.859 / macro-F1
0.811 (``ANCHOR``).

Both sides learn from the model's own train split and are scored on its dev split, so their
difference is measured here, once per baseline seed. The anchor plus that difference is a
projection of the model's held-out figures, not a measurement of them.

Beside it, for both tasks: the model's accuracy on re-posts of headlines it trained on, which
the dev split holds none of by design (``reposts``), and how often a text recurs in each file.
"""

from __future__ import annotations

import json
import random
import statistics
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    get_linear_schedule_with_warmup,
)

from classifier import labels as label_spaces
from classifier.engine import Engine
from classifier.model import load, resolve_base
from classifier.training.data import Example, folder_examples, normalise, read_csv
from classifier.training.evaluation import report

# The plain recipe's figures on the held-out sentiment validation split (the calibration).
ANCHOR = {"accuracy": 0.859, "macro_f1": 0.811}
FIGURES = ("accuracy", "macro_f1")


def plain_finetune(
    base: str,
    train: Sequence[Example],
    texts: Sequence[str],
    seed: int,
    epochs: int = 3,
    learning_rate: float = 5e-5,
    batch_size: int = 32,
    max_length: int = 64,
) -> list[str]:
    """Fine-tune a fresh sequence classifier on ``train`` and return its labels for ``texts``."""
    names = list(label_spaces.SENTIMENT)
    rows = [(e.text, names.index(e.label)) for e in train]
    random.seed(seed)
    torch.manual_seed(seed)
    folder = resolve_base(base)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder, num_labels=len(names))
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=0.01)
    steps = -(-len(rows) // batch_size) * epochs
    schedule = get_linear_schedule_with_warmup(optimizer, 0, steps)  # type: ignore[no-untyped-call]

    def encode(batch: Sequence[str]) -> Any:
        return tokenizer(
            list(batch), truncation=True, max_length=max_length, padding=True, return_tensors="pt"
        )

    model.train()
    for epoch in range(1, epochs + 1):
        random.shuffle(rows)
        batches = [rows[i : i + batch_size] for i in range(0, len(rows), batch_size)]
        for batch in tqdm(batches, desc=f"plain seed {seed} epoch {epoch}/{epochs}", leave=False):
            gold = torch.tensor([label for _, label in batch])
            loss = model(**encode([text for text, _ in batch]), labels=gold).loss
            loss.backward()
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
    model.eval()
    predicted: list[str] = []
    with torch.inference_mode():
        for i in range(0, len(texts), 128):
            logits = model(**encode(texts[i : i + 128])).logits
            predicted += [names[k] for k in logits.argmax(-1).tolist()]
    return predicted


def model_labels(engine: Engine, task: str, texts: Sequence[str]) -> list[str]:
    """The engine's label of one task for each text."""
    scores = engine.predict(texts)
    return [s.sentiment_label if task == "sentiment" else s.topic_label for s in scores]


def reposts(folder: Path, sentiment_csv: Path, topic_csv: Path) -> dict[str, dict[str, Any]]:
    """Each task's accuracy on re-posts of trained headlines, beside its dev accuracy.

    The dev split keeps all re-posts of a headline on one side, so it holds none of them; a
    split made row by row would. A re-post here is a row of a training file whose URL-stripped
    text the model trained on, under the same label, but whose raw text differs (another t.co
    link): the model never saw that exact input.
    """
    train, dev = folder_examples(folder, sentiment_csv, topic_csv)
    engine = Engine.from_folder(folder, device="cpu")
    files: dict[str, tuple[Path, dict[int, str] | Sequence[str]]] = {
        "sentiment": (sentiment_csv, label_spaces.TWEET_SENTIMENT_IDS),
        "topic": (topic_csv, label_spaces.TOPICS),
    }
    result: dict[str, dict[str, Any]] = {}
    for task, (path, names) in files.items():
        rows = read_csv(path, task, names)
        counts = Counter(normalise(e.text) for e in rows)
        trained = {normalise(e.text): e for e in train if e.task == task}
        reposted = [
            e
            for e in rows
            if (seen := trained.get(normalise(e.text))) is not None
            and seen.label == e.label
            and seen.text != e.text
        ]
        result[task] = {
            "recurring_share": round(
                sum(counts[normalise(e.text)] > 1 for e in rows) / len(rows), 4
            ),
            "reposts": len(reposted),
            "reposts_accuracy": _accuracy(engine, task, reposted),
            "dev": sum(e.task == task for e in dev),
            "dev_accuracy": _accuracy(engine, task, [e for e in dev if e.task == task]),
        }
    return result


def _accuracy(engine: Engine, task: str, examples: Sequence[Example]) -> float | None:
    if not examples:
        return None
    predicted = model_labels(engine, task, [e.text for e in examples])
    return round(
        sum(p == e.label for p, e in zip(predicted, examples, strict=True)) / len(examples), 4
    )


def compare(
    folder: Path,
    sentiment_csv: Path,
    topic_csv: Path,
    seeds: Sequence[int],
    base: str | None = None,
    epochs: int = 3,
    say: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Model vs plain baseline (one per seed) on the folder's sentiment dev split."""
    train, dev = folder_examples(folder, sentiment_csv, topic_csv)
    train = [e for e in train if e.task == "sentiment"]
    dev = [e for e in dev if e.task == "sentiment"]
    if not train or not dev:
        raise ValueError(f"{folder}: its split has no sentiment examples on one side")
    texts = [e.text for e in dev]
    gold = [e.label for e in dev]
    names = list(label_spaces.SENTIMENT)
    base = base or load(folder)[2].base_model

    def figures(predicted: Sequence[str]) -> dict[str, float]:
        result = report(gold, predicted, names)
        return {key: round(result[key], 4) for key in FIGURES}

    ours = figures(model_labels(Engine.from_folder(folder, device="cpu"), "sentiment", texts))
    say(f"model {folder.name}: {json.dumps(ours)} on {len(dev)} dev texts")
    baselines = []
    for seed in seeds:
        started = time.monotonic()
        plain = figures(plain_finetune(base, train, texts, seed, epochs=epochs))
        seconds = round(time.monotonic() - started)
        baselines.append({"seed": seed, **plain, "seconds": seconds})
        say(f"plain fine-tune, seed {seed}: {json.dumps(plain)} ({seconds} s)")
    mean = {key: round(statistics.fmean(b[key] for b in baselines), 4) for key in FIGURES}
    difference = {key: round(ours[key] - mean[key], 4) for key in FIGURES}
    return {
        "model": str(folder),
        "n_train": len(train),
        "n_dev": len(dev),
        "dev": ours,
        "plain": baselines,
        "plain_mean": mean,
        "difference": difference,
        # how many sentiment errors the plain fine-tune makes for each of the model's
        "error_ratio": round((1 - mean["accuracy"]) / max(1 - ours["accuracy"], 1e-9), 3),
        "anchor_held_out": ANCHOR,
        "projected_held_out": {key: round(ANCHOR[key] + difference[key], 4) for key in FIGURES},
    }
