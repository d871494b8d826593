"""Model quality vs a plain fine-tune: the baseline learns, the comparison is on the folder's split."""

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from classifier import labels
from classifier.engine import Engine
from classifier.training.data import Example, folder_examples, load_examples, normalise
from classifier.training.quality import ANCHOR, compare, model_labels, plain_finetune, reposts
from classifier.training.train import evaluate, train
from finsent.cli import app
from tests.classifier.training.test_train import config

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


def _csv(path: Path, rows: list[tuple[str, int]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return path


def test_reposts_are_rows_of_trained_headlines_under_another_link(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    sentiment = [(f"Company {i} shares move on guidance", i % 3) for i in range(30)]
    sentiment += [
        (f"{text} https://t.co/x{i}", label) for i, (text, label) in enumerate(sentiment[:3])
    ]
    sentiment.append((f"{sentiment[3][0]} https://t.co/y", (sentiment[3][1] + 1) % 3))  # conflict
    topic = [(f"Sector {i} update from the desk", i % 20) for i in range(30)]
    topic += [(f"{text} https://t.co/z{i}", label) for i, (text, label) in enumerate(topic[:2])]
    cfg = config(
        tmp_path / "model", tiny_model_dir / "encoder", epochs=1, limit=None, lora=False,
        dev_fraction=0.2, sentiment_csv=_csv(tmp_path / "s.csv", sentiment),
        topic_csv=_csv(tmp_path / "t.csv", topic),
    )  # fmt: skip
    train(cfg, say=lambda _: None)
    result = reposts(cfg.output, cfg.sentiment_csv, cfg.topic_csv)
    train_rows, dev = load_examples(cfg)
    engine = Engine.from_folder(cfg.output, device="cpu")
    for task, rows, names, copies in (
        ("sentiment", sentiment, labels.TWEET_SENTIMENT_IDS, range(30, 33)),
        ("topic", topic, labels.TOPICS, range(30, 32)),
    ):
        trained = {normalise(e.text) for e in train_rows if e.task == task}
        expected = [
            Example(rows[i][0], names[rows[i][1]], task)
            for i in copies
            if normalise(rows[i][0]) in trained
        ]
        figures = result[task]
        assert figures["reposts"] == len(expected)  # the conflicting re-post is never counted
        if expected:
            predicted = model_labels(engine, task, [e.text for e in expected])
            right = sum(p == e.label for p, e in zip(predicted, expected, strict=True))
            assert figures["reposts_accuracy"] == round(right / len(expected), 4)
        assert figures["dev"] == sum(e.task == task for e in dev)
    assert result["sentiment"]["reposts"] + result["topic"]["reposts"] > 0
    assert result["sentiment"]["recurring_share"] == round(8 / 34, 4)
    assert result["topic"]["recurring_share"] == round(4 / 32, 4)
