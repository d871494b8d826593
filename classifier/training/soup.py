"""A model soup: the uniform weight average of full fine-tunes of one base on one dev split.

Fine-tunes that start from the same base usually sit in one basin of the loss, so their mean
is a model that often scores better than each of them, at the cost of one model at inference.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from classifier.model import ModelLoadError, SentimentTopicModel, load
from classifier.training.data import SPLIT_SETTINGS, split_seed


def split_of(settings: dict[str, Any]) -> dict[str, Any]:
    """The settings of a train_config.json that decide its dev split.

    Ingredients must share them, or the soup's dev figures would be measured on texts that
    some ingredient trained on.
    """
    chosen = {key: settings.get(key) for key in SPLIT_SETTINGS}
    files = {key: Path(str(settings.get(key))).name for key in ("sentiment_csv", "topic_csv")}
    return chosen | files | {"split_seed": split_seed(settings)}


def read_settings(folders: Sequence[Path]) -> list[dict[str, Any]]:
    """Each folder's train_config.json, once all of them share one dev split."""
    if len(folders) < 2:
        raise ModelLoadError("a soup needs at least two model folders")
    settings = []
    for folder in folders:
        path = folder / "train_config.json"
        if not path.is_file():
            raise ModelLoadError(f"{folder}: no train_config.json (its dev split is unknown)")
        settings.append(json.loads(path.read_text()))
    splits = [split_of(s) for s in settings]
    if any(s != splits[0] for s in splits[1:]):
        raise ModelLoadError(f"the folders were trained on different dev splits: {splits}")
    return settings


def soup(folders: Sequence[Path]) -> tuple[SentimentTopicModel, Any, Any]:
    """Load each full fine-tune and return the first with every float weight averaged."""
    model, tokenizer, spec = load(folders[0])
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    for folder in folders[1:]:
        other, _, other_spec = load(folder)
        if other_spec.adapter != "full" or spec.adapter != "full":
            raise ModelLoadError(f"{folder}: a soup needs full fine-tunes (train --no-lora)")
        if (other_spec.base_model, other_spec.sentiment_labels, other_spec.topic_labels) != (
            spec.base_model,
            spec.sentiment_labels,
            spec.topic_labels,
        ):
            raise ModelLoadError(f"{folder}: base or label spaces differ from {folders[0]}")
        weights = other.state_dict()
        if weights.keys() != state.keys():
            raise ModelLoadError(f"{folder}: the architecture differs from {folders[0]}")
        for key, value in weights.items():
            if value.is_floating_point():
                state[key] += value
    model.load_state_dict(
        {k: v / len(folders) if v.is_floating_point() else v for k, v in state.items()}
    )
    model.eval()
    return model, tokenizer, spec
