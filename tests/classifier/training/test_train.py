"""The training recipe end to end on the tiny model: folder, metrics, reload, determinism."""

import json
from pathlib import Path

import pytest
import torch
from transformers import AutoTokenizer

from classifier.engine import Engine
from classifier.model import load
from classifier.training.config import TrainConfig
from classifier.training.data import load_examples
from classifier.training.objective import Objective
from classifier.training.train import _epoch, _loader, train
from finsent.datadir import data_dir


def config(output: Path, base: Path, **overrides: object) -> TrainConfig:
    values: dict = {  # type: ignore[type-arg]
        "sentiment_csv": data_dir() / "twitter_financial_news_sentiment" / "sent_train.csv",
        "topic_csv": data_dir() / "twitter_financial_news_topic" / "topic_train.csv",
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
    check = engine.spec.extra["precision"]  # measured on the dev split, as served (LoRA merged)
    assert check["fp32"]["sentiment"]["n"] > 0 and check["fp32"]["topic"]["n"] > 0
    assert set(check["modes"]) == {"bf16", "int8"}
    assert len(engine.predict(["Stocks tumble"])) == 1


def test_length_grouped_batches_pad_less_and_keep_every_row(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    cfg = config(tmp_path, tiny_model_dir / "encoder", limit=1000)
    examples, _ = load_examples(cfg)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir / "encoder", local_files_only=True)

    def one_epoch(group: bool) -> tuple[int, int, list[tuple[int, ...]]]:
        loader = _loader(
            TrainConfig(**{**cfg.__dict__, "group_by_length": group}), tokenizer, examples
        )
        padded = real = 0
        rows: list[tuple[int, ...]] = []
        for batch in loader:
            padded += batch["mask"].numel()
            real += int(batch["mask"].sum())
            for ids, mask in zip(batch["ids"], batch["mask"], strict=True):
                rows.append(tuple(ids[mask.bool()].tolist()))
        return padded, real, rows

    grouped_padded, real, grouped_rows = one_epoch(True)
    plain_padded, plain_real, plain_rows = one_epoch(False)
    assert real == plain_real
    assert sorted(grouped_rows) == sorted(plain_rows)  # the same data, each row once
    assert len(grouped_rows) == len(examples)
    assert grouped_padded < 0.8 * plain_padded  # tweets pad far less in length-sorted windows
    assert grouped_padded / real < 1.1


def test_dev_split_is_deterministic_and_disjoint(tmp_path: Path, tiny_model_dir: Path) -> None:
    cfg = config(tmp_path, tiny_model_dir / "encoder", limit=2000)
    train_a, dev_a = load_examples(cfg)
    train_b, dev_b = load_examples(cfg)
    assert (train_a, dev_a) == (train_b, dev_b)
    assert {e.text for e in train_a}.isdisjoint({e.text for e in dev_a})
    assert {e.task for e in dev_a} == {"sentiment", "topic"}
    other_seed = config(tmp_path, tiny_model_dir / "encoder", limit=2000, seed=14)
    assert load_examples(other_seed)[1] != dev_a  # the seed moves the split by default
    pinned = config(tmp_path, tiny_model_dir / "encoder", limit=2000, seed=14, split_seed=13)
    assert load_examples(pinned) == (train_a, dev_a)  # ... unless --split-seed pins it


def test_extra_data_must_name_its_kind(tmp_path: Path, tiny_model_dir: Path) -> None:
    with pytest.raises(ValueError, match="fpb:PATH"):
        load_examples(config(tmp_path, tiny_model_dir / "encoder", extra_data=["x.txt"]))


def test_init_from_continues_a_trained_folder(tmp_path: Path, tiny_model_dir: Path) -> None:
    base = tiny_model_dir / "encoder"
    first = tmp_path / "first"
    train(config(first, base, lora=False, epochs=1), say=lambda _: None, command="finsent train a")
    # Learning rates of zero: the continued model must be the first one, heads included.
    again = tmp_path / "again"
    train(
        config(again, base, lora=False, epochs=1, init_from=first,
               learning_rate=0.0, head_learning_rate=0.0),
        say=lambda _: None, command="finsent train b",
    )  # fmt: skip
    texts = ["Stocks tumble after the warning", "Fed holds rates", "Apple beats estimates"]
    before = Engine.from_folder(first, device="cpu").predict(texts)
    after = Engine.from_folder(again, device="cpu").predict(texts)
    for one, two in zip(before, after, strict=True):
        assert one.topic == pytest.approx(two.topic, abs=1e-6)
        assert one.sentiment == pytest.approx(two.sentiment, abs=1e-6)
    assert (again / "COMMAND").read_text().splitlines() == ["finsent train a", "finsent train b"]
    saved = json.loads((again / "train_config.json").read_text())
    assert saved["init_from"] == str(first)
    card = (again / "README.md").read_text()
    assert "| 1.1 |" in card and "| 2.1 |" in card and "continued a model" in card


def test_init_from_needs_a_full_fine_tune(tmp_path: Path, tiny_model_dir: Path) -> None:
    cfg = config(tmp_path / "x", tiny_model_dir / "encoder", init_from=tmp_path)
    with pytest.raises(ValueError, match="--no-lora"):
        train(cfg, say=lambda _: None)


@pytest.mark.parametrize("sentiment_weight", [0.0, 1.0])
def test_sentiment_loss_weight_scales_the_sentiment_term(
    tmp_path: Path, tiny_model_dir: Path, sentiment_weight: float
) -> None:
    cfg = config(tmp_path, tiny_model_dir / "encoder", limit=64)
    examples, _ = load_examples(cfg)
    model, tokenizer, _ = load(tiny_model_dir)
    before = {k: v.clone() for k, v in model.head_state().items()}
    sgd = torch.optim.SGD(model.parameters(), lr=0.1)  # no weight decay: no gradient, no change
    constant = torch.optim.lr_scheduler.LambdaLR(sgd, lambda _: 1.0)
    loader = _loader(cfg, tokenizer, examples)
    objective = Objective(sentiment_loss_weight=sentiment_weight)
    _epoch(model, loader, sgd, constant, torch.device("cpu"), "t", objective)
    moved = {k for k, v in model.head_state().items() if not torch.equal(v, before[k])}
    assert any(k.startswith("topic_head.") for k in moved)
    assert any(k.startswith("sentiment_head.") for k in moved) == (sentiment_weight > 0)


def test_row_weights_scale_each_rows_loss() -> None:
    from classifier.training.objective import IGNORE

    torch.manual_seed(0)
    sentiment, topic = torch.randn(3, 3), torch.randn(3, 20)
    batch = {"sentiment": torch.tensor([0, 2, IGNORE]), "topic": torch.tensor([IGNORE, IGNORE, 4])}
    plain = Objective()(batch, sentiment, topic)
    ones = Objective()(batch | {"weight": torch.ones(3)}, sentiment, topic)
    assert torch.allclose(plain, ones)
    doubled = Objective()(batch | {"weight": torch.tensor([2.0, 1.0, 1.0])}, sentiment, topic)
    terms = torch.nn.functional.cross_entropy(
        sentiment[:2], batch["sentiment"][:2], reduction="none"
    )
    topic_term = torch.nn.functional.cross_entropy(topic[2:], batch["topic"][2:])
    assert torch.allclose(doubled, (2 * terms[0] + terms[1]) / 2 + topic_term)


def test_team_labels_train_with_their_weight_and_the_card_counts_them(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    from classifier.training.labelset import Label, write_version

    store = tmp_path / "labels"
    write_version(store, [
        Label(f"n{i}", f"Team note {i}: margins {'up' if i % 2 else 'down'}",
              ("negative", "positive")[i % 2], None)
        for i in range(30)
    ])  # fmt: skip
    out = tmp_path / "model"
    cfg = config(out, tiny_model_dir / "encoder", epochs=1, extra_data=[f"labels:{store}"],
                 labels_licence="CC BY-NC 4.0")  # fmt: skip
    train_examples, _ = load_examples(cfg)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir / "encoder", local_files_only=True)
    batch = next(iter(_loader(cfg, tokenizer, train_examples)))
    assert set(batch["weight"].tolist()) <= {1.0, 2.0}
    metrics = train(cfg, say=lambda _: None, command="finsent train labels")
    source = metrics["data"][f"labels:{store}"]
    assert source["non_commercial"] and sum(source["held_back"].values()) > 0
    assert metrics["held_back"]["sentiment"]["n"] == sum(source["held_back"].values())
    card = (out / "README.md").read_text()
    assert "**Non-commercial**" in card and f"labels:{store} | CC BY-NC 4.0" in card
    assert "## The team's held-back labels" in card and "| tweets-topic | MIT |" in card
