"""The model card template: the shipped card is what its folder's files render to."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from classifier.paths import SHIPPED
from classifier.training.card import other_evaluations, write_model_card


def test_the_shipped_card_renders_from_its_folder(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    shutil.copytree(SHIPPED, folder)
    write_model_card(folder, other_evaluations(folder))
    assert (folder / "README.md").read_text() == (SHIPPED / "README.md").read_text()


def test_a_field_the_card_needs_is_named_when_missing(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    shutil.copytree(SHIPPED, folder)
    config = json.loads((folder / "train_config.json").read_text())
    del config["batch_size"]
    (folder / "train_config.json").write_text(json.dumps(config))
    with pytest.raises(KeyError, match="batch_size"):
        write_model_card(folder)


def test_the_card_lists_every_source_with_licence_and_sizes(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    shutil.copytree(SHIPPED, folder)
    config = json.loads((folder / "train_config.json").read_text())
    config |= {"extra_data": ["labels:/team/labels"], "labels_weight": 2.0,
               "labels_held_back": 0.2, "labels_licence": "team-owned", "replay": 400}  # fmt: skip
    (folder / "train_config.json").write_text(json.dumps(config))
    metrics = json.loads((folder / "metrics.json").read_text())
    metrics["data"] = {
        "tweets-sentiment": {"licence": "MIT", "non_commercial": False,
                             "train": {"sentiment": 400}, "dev": {"sentiment": 850}, "held_back": {}},
        "labels:/team/labels": {"licence": "team-owned", "non_commercial": False,
                                "train": {"sentiment": 80, "topic": 12}, "dev": {},
                                "held_back": {"sentiment": 20}},
    }  # fmt: skip
    metrics["held_back"] = {"sentiment": {"n": 20, "accuracy": 0.85, "macro_f1": 0.8}}
    (folder / "metrics.json").write_text(json.dumps(metrics))
    card = write_model_card(folder).read_text()
    assert "| tweets-sentiment | MIT | sentiment 400 | sentiment 850 | 0 |" in card
    assert (
        "| labels:/team/labels | team-owned | sentiment 80, topic 12 | 0 | sentiment 20 |" in card
    )
    assert "the team's labels (labels:/team/labels: team-owned)" in card
    assert "Non-commercial" not in card and "at most 400 public training rows" in card
    assert "| sentiment | 20 | 0.8500 | 0.8000 |" in card
    metrics["data"]["fpb:/x.txt"] = {"licence": "CC BY-NC-SA 3.0 (non-commercial)",
                                     "non_commercial": True, "train": {"sentiment": 5}}  # fmt: skip
    (folder / "metrics.json").write_text(json.dumps(metrics))
    card = write_model_card(folder).read_text()
    assert "- Licence: **Non-commercial**: trained with fpb:/x.txt" in card
