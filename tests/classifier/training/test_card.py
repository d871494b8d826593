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
