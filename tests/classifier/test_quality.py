"""Model quality vs a plain fine-tune: the baseline learns, the comparison is on the folder's split."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from classifier.data import Example
from classifier.engine import Engine
from classifier.quality import ANCHOR, compare, plain_finetune
from classifier.train import evaluate, folder_examples, load_examples, train
from finsent.cli import app
from tests.classifier.test_train import config

PHRASES = {
    "positive": ["profits soar", "record gains", "shares rally"],
    "negative": ["losses mount", "shares plunge", "bankruptcy filing"],
    "neutral": ["board meeting", "annual report", "conference call"],
}


def test_the_plain_baseline_learns_and_is_deterministic(tiny_model_dir: Path) -> None:
    train_rows = [Example(p, label, "sentiment") for label, ps in PHRASES.items() for p in ps] * 8
    texts = [text for phrases in PHRASES.values() for text in phrases]
    gold = [label for label, phrases in PHRASES.items() for _ in phrases]
    base = str(tiny_model_dir / "encoder")
    first = plain_finetune(
        base, train_rows, texts, seed=3, epochs=20, learning_rate=3e-3, batch_size=8
    )
    assert first == gold
    again = plain_finetune(
        base, train_rows, texts, seed=3, epochs=20, learning_rate=3e-3, batch_size=8
    )
    assert again == first
    untrained = plain_finetune(base, train_rows, texts, seed=3, epochs=0)
    assert untrained != gold


def test_compare_scores_both_sides_on_the_folders_dev_split(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    folder = tmp_path / "model"
    cfg = config(folder, tiny_model_dir / "encoder", epochs=1, limit=80, lora=False)
    train(cfg, say=lambda _: None)
    lines: list[str] = []
    result = compare(
        folder, cfg.sentiment_csv, cfg.topic_csv, seeds=[1, 2],
        base=str(tiny_model_dir / "encoder"), epochs=1, say=lines.append,
    )  # fmt: skip
    train_rows, dev = load_examples(cfg)
    assert result["n_dev"] == sum(e.task == "sentiment" for e in dev)
    assert result["n_train"] == sum(e.task == "sentiment" for e in train_rows)
    model_dev = evaluate(Engine.from_folder(folder, device="cpu"), dev)["sentiment"]
    assert result["dev"]["accuracy"] == pytest.approx(model_dev["accuracy"], abs=1e-4)
    assert [b["seed"] for b in result["plain"]] == [1, 2]
    for key in ("accuracy", "macro_f1"):
        mean = sum(b[key] for b in result["plain"]) / 2
        assert result["plain_mean"][key] == pytest.approx(mean, abs=1e-4)
        assert result["difference"][key] == pytest.approx(result["dev"][key] - mean, abs=2e-4)
        assert result["projected_held_out"][key] == pytest.approx(
            ANCHOR[key] + result["difference"][key], abs=1e-4
        )
    assert len(lines) == 3 and "seed 2" in lines[-1]


def test_folder_examples_rebuild_the_runs_split(tmp_path: Path, tiny_model_dir: Path) -> None:
    cfg = config(tmp_path / "m", tiny_model_dir / "encoder", limit=60, seed=5, split_seed=9)
    cfg.output.mkdir()
    settings = {"seed": 5, "split_seed": 9, "limit": 60, "dev_fraction": 0.1, "extra_data": []}
    # settings that do not decide the split (a teacher folder, paths) are not read
    settings |= {"teacher": "/gone/teacher", "output": "/elsewhere", "lora_r": 99}
    (cfg.output / "train_config.json").write_text(json.dumps(settings))
    assert folder_examples(cfg.output, cfg.sentiment_csv, cfg.topic_csv) == load_examples(cfg)
    with pytest.raises(ValueError, match=r"no train_config\.json"):
        folder_examples(tmp_path, cfg.sentiment_csv, cfg.topic_csv)


def test_bench_quality_cli_refuses_a_folder_without_a_split(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["bench", "quality", "--model", str(tmp_path)])
    assert result.exit_code == 2
    assert "train_config.json" in result.output
