"""`finsent model soup`: the mean of full fine-tunes that share one base and one dev split."""

import json
from pathlib import Path

import pytest
import torch

from classifier.model import load
from classifier.training.train import train
from tests.classifier.training.test_train import config
from tests.cli import finsent


def fine_tune(tmp_path: Path, tiny_model_dir: Path, name: str, **overrides: object) -> Path:
    out = tmp_path / name
    cfg = config(out, tiny_model_dir / "encoder", lora=False, epochs=1, **overrides)
    train(cfg, say=lambda _: None, command=f"finsent train -o {name}")
    return out


@pytest.fixture(scope="module")
def first(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Path:
    return fine_tune(tmp_path_factory.mktemp("soup"), tiny_model_dir, "a")


def test_soup_is_the_mean_of_its_ingredients_and_packs(
    tmp_path: Path, tiny_model_dir: Path, first: Path
) -> None:
    a = first
    b = fine_tune(tmp_path, tiny_model_dir, "b", seed=14, split_seed=13, learning_rate=1e-3)
    result = finsent("model", "soup", str(a), str(b), "-o", str(tmp_path / "soup"))
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert {"sentiment", "topic"} <= set(summary["dev"])

    souped, _, _ = load(tmp_path / "soup")
    wa, wb, ws = (m.state_dict() for m in (load(a)[0], load(b)[0], souped))
    moved = [k for k in ws if ws[k].is_floating_point() and not torch.equal(wa[k], wb[k])]
    assert moved, "the two fine-tunes differ"
    for key in moved:
        assert torch.allclose(ws[key], (wa[key] + wb[key]) / 2, atol=1e-6), key

    metrics = json.loads((tmp_path / "soup" / "metrics.json").read_text())
    assert [entry["differs"] for entry in metrics["soup"]] == [
        {},
        {"seed": 14, "split_seed": 13, "learning_rate": 1e-3},
    ]
    assert metrics["best"]["dev"]["sentiment"]["n"] > 0
    command = (tmp_path / "soup" / "COMMAND").read_text().splitlines()
    assert command[:2] == ["finsent train -o a", "finsent train -o b"]
    assert command[2].startswith("finsent model soup")

    packed = finsent("model", "pack", str(tmp_path / "soup"), "-o", str(tmp_path / "packed"))
    assert packed.returncode == 0, packed.stderr
    card = (tmp_path / "packed" / "README.md").read_text()
    assert "model soup" in card and "| soup |" in card and "| 2.1 |" in card
    assert "differ in 2: " in card and "seed 14" in card


def test_soup_refuses_ingredients_of_different_dev_splits(
    tmp_path: Path, tiny_model_dir: Path, first: Path
) -> None:
    a = first
    c = fine_tune(tmp_path, tiny_model_dir, "c", seed=14)  # its own split: dev texts leak
    result = finsent("model", "soup", str(a), str(c), "-o", str(tmp_path / "soup"))
    assert result.returncode == 2
    assert "different dev splits" in result.stderr
    assert not (tmp_path / "soup").exists()
    alone = finsent("model", "soup", str(a), "-o", str(tmp_path / "soup"))
    assert alone.returncode == 2 and "at least two" in alone.stderr
