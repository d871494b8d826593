"""Cross-task distillation: teacher probabilities, the soft-label loss, `finsent train --teacher`."""

import json
import shutil
from pathlib import Path

import pytest
import torch
from torch.nn import functional

from classifier import labels
from classifier.engine import Engine
from classifier.model import load
from classifier.training.data import load_examples
from classifier.training.distill import soft_loss, teacher_probabilities
from classifier.training.objective import IGNORE, Objective
from classifier.training.train import train
from tests.classifier.training.test_train import config

N_SENTIMENT, N_TOPIC = len(labels.SENTIMENT), len(labels.TOPICS)


def test_teacher_probabilities_are_the_teachers_scores_in_label_order(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    examples, _ = load_examples(config(tmp_path, tiny_model_dir / "encoder", limit=40))
    probabilities = teacher_probabilities(tiny_model_dir, examples, device="cpu")
    assert probabilities.shape == (len(examples), N_SENTIMENT + N_TOPIC)
    assert torch.allclose(probabilities[:, :N_SENTIMENT].sum(1), torch.ones(len(examples)))
    assert torch.allclose(probabilities[:, N_SENTIMENT:].sum(1), torch.ones(len(examples)))
    scores = Engine.from_folder(tiny_model_dir, device="cpu").predict([examples[5].text])[0]
    assert probabilities[5, labels.SENTIMENT.index("positive")].item() == pytest.approx(
        scores.sentiment["positive"], abs=1e-5
    )
    last_topic = labels.TOPICS[-1]
    assert probabilities[5, -1].item() == pytest.approx(scores.topic[last_topic], abs=1e-5)


def test_a_teacher_over_other_labels_is_refused(tmp_path: Path, tiny_model_dir: Path) -> None:
    other = tmp_path / "other"
    shutil.copytree(tiny_model_dir, other)
    manifest = json.loads((other / "finsent_model.json").read_text())
    manifest["sentiment_labels"] = ["positive", "neutral", "negative"]
    (other / "finsent_model.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="label spaces differ"):
        teacher_probabilities(other, [], device="cpu")


def test_soft_loss_is_cross_entropy_on_the_selected_rows_only() -> None:
    logits = torch.randn(4, 3, requires_grad=True)
    targets = torch.softmax(torch.randn(4, 3), -1)
    rows = torch.tensor([True, False, True, False])
    expected = -(targets[rows] * functional.log_softmax(logits[rows], -1)).sum(-1).mean()
    assert soft_loss(logits, targets, rows).item() == pytest.approx(expected.item(), abs=1e-6)
    soft_loss(logits, targets, rows).backward()  # type: ignore[no-untyped-call]
    assert logits.grad is not None
    assert torch.count_nonzero(logits.grad[~rows]) == 0 and torch.count_nonzero(logits.grad[rows])
    none = soft_loss(logits, targets, torch.zeros(4, dtype=torch.bool))
    assert none.item() == 0.0 and none.requires_grad


def test_the_teacher_fills_the_missing_label_only() -> None:
    torch.manual_seed(1)
    sentiment_logits = torch.randn(3, N_SENTIMENT, requires_grad=True)
    topic_logits = torch.randn(3, N_TOPIC, requires_grad=True)
    teacher = torch.cat(
        [
            torch.softmax(torch.randn(5, N_SENTIMENT), -1),
            torch.softmax(torch.randn(5, N_TOPIC), -1),
        ],
        dim=1,
    )
    batch = {  # row 0: sentiment gold; rows 1 and 2: topic gold (training examples 4, 0, 2)
        "sentiment": torch.tensor([2, IGNORE, IGNORE]),
        "topic": torch.tensor([IGNORE, 7, 3]),
        "index": torch.tensor([4, 0, 2]),
    }
    plain = Objective()(batch, sentiment_logits, topic_logits)
    off = Objective(teacher=teacher, distill_weight=0.0)(batch, sentiment_logits, topic_logits)
    assert off.item() == pytest.approx(plain.item())
    distilled = Objective(teacher=teacher, distill_weight=0.5)(
        batch, sentiment_logits, topic_logits
    )
    extra = 0.5 * (
        -(teacher[[0, 2], :N_SENTIMENT] * functional.log_softmax(sentiment_logits[1:], -1))
        .sum(-1)
        .mean()
        - (teacher[[4], N_SENTIMENT:] * functional.log_softmax(topic_logits[:1], -1)).sum(-1).mean()
    )
    assert distilled.item() == pytest.approx(plain.item() + extra.item(), abs=1e-5)


def test_train_with_a_teacher_records_it_and_chains_its_command(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    teacher = tmp_path / "teacher"
    first = train(
        config(teacher, tiny_model_dir / "encoder", lora=False, epochs=1, limit=60),
        say=lambda _: None,
        command="finsent train -o teacher",
    )
    assert first["best"]["epoch"] == 1
    student = tmp_path / "student"
    lines: list[str] = []
    cfg = config(
        student, tiny_model_dir / "encoder", lora=False, epochs=1, limit=60, teacher=teacher
    )
    plain = config(tmp_path / "plain", tiny_model_dir / "encoder", lora=False, epochs=1, limit=60)
    distilled = train(cfg, say=lines.append, command="finsent train -o student --teacher teacher")
    baseline = train(plain, say=lambda _: None, command="finsent train -o plain")
    assert any(line.startswith(f"teacher {teacher}:") for line in lines)
    assert (student / "COMMAND").read_text().splitlines() == [
        "finsent train -o teacher",
        "finsent train -o student --teacher teacher",
    ]
    assert json.loads((student / "train_config.json").read_text())["teacher"] == str(teacher)
    assert "Distilled across tasks" in (student / "README.md").read_text()
    # same seed, same batches: only the loss differs, so the training loss does too
    assert distilled["history"][0]["train_loss"] != baseline["history"][0]["train_loss"]
    model, _, _ = load(student)
    assert model.sentiment_head.weight.shape == (N_SENTIMENT, 32)


def test_a_teacher_that_is_not_a_model_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a finsent model folder"):
        config(tmp_path / "m", tmp_path, teacher=tmp_path)
    with pytest.raises(ValueError, match="must not be negative"):
        config(tmp_path / "m", tmp_path, distill_weight=-1.0)
