"""The training recipe end to end on the tiny model: folder, metrics, reload, determinism."""

import json
from pathlib import Path

import pytest

from classifier.engine import Engine
from classifier.train import TrainConfig, load_examples, train

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


def config(output: Path, base: Path, **overrides: object) -> TrainConfig:
    values: dict = {  # type: ignore[type-arg]
        "sentiment_csv": DATA / "twitter_financial_news_sentiment" / "sent_train.csv",
        "topic_csv": DATA / "twitter_financial_news_topic" / "topic_train.csv",
        "output": output,
        "base_model": str(base),
        "epochs": 2,
        "limit": 120,
        "batch_size": 16,
        "lora_r": 4,
        "lora_alpha": 8,
    } | overrides
    return TrainConfig(**values)


def test_lora_run_writes_a_loadable_small_folder(tmp_path: Path, tiny_model_dir: Path) -> None:
    out = tmp_path / "model"
    lines: list[str] = []
    metrics = train(
        config(out, tiny_model_dir / "encoder"), say=lines.append, command="finsent train x"
    )
    assert {p.name for p in out.iterdir()} >= {
        "adapter", "heads.safetensors", "finsent_model.json", "metrics.json",
        "train_config.json", "COMMAND", "README.md",
    }  # fmt: skip
    card = (out / "README.md").read_text()
    assert "finsent train x" in card and "| 2 |" in card and "MIT" in card
    assert (out / "COMMAND").read_text().strip() == "finsent train x"
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["best"]["epoch"] in (1, 2)
    assert len(saved["history"]) == 2
    assert {"sentiment_accuracy", "topic_macro_f1", "dev_score"} <= set(saved["history"][0])
    assert metrics["model"] == "finsent-minilm@1"
    engine = Engine.from_folder(out, device="cpu")
    assert engine.spec.adapter == "lora"
    check = engine.spec.extra["int8"]  # measured on the dev split, as served (LoRA merged)
    assert check["sentiment"]["n"] > 0 and check["topic"]["n"] > 0
    assert len(engine.predict(["Stocks tumble"])) == 1


def test_dev_split_is_deterministic_and_disjoint(tmp_path: Path, tiny_model_dir: Path) -> None:
    cfg = config(tmp_path, tiny_model_dir / "encoder", limit=2000)
    train_a, dev_a = load_examples(cfg)
    train_b, dev_b = load_examples(cfg)
    assert (train_a, dev_a) == (train_b, dev_b)
    assert {e.text for e in train_a}.isdisjoint({e.text for e in dev_a})
    assert {e.task for e in dev_a} == {"sentiment", "topic"}


def test_extra_data_must_name_its_kind(tmp_path: Path, tiny_model_dir: Path) -> None:
    with pytest.raises(ValueError, match="fpb:PATH"):
        load_examples(config(tmp_path, tiny_model_dir / "encoder", extra_data=["x.txt"]))
