"""The EMA of the weights: the exact warm-up recurrence, and `finsent train --ema-decay`."""

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from classifier.engine import Engine
from classifier.training.data import load_examples
from classifier.training.ema import ema_of
from classifier.training.train import evaluate, train
from tests.classifier.training.test_train import config


def test_ema_follows_the_warmed_up_recurrence() -> None:
    model = nn.Linear(3, 2)
    ema = ema_of(model, decay=0.9)
    expected = model.weight.detach().clone()
    for step in range(30):
        with torch.no_grad():
            model.weight.add_(torch.randn_like(model.weight))
        ema.update_parameters(model)
        if step == 0:
            expected = model.weight.detach().clone()  # the first update copies
        else:
            decay = min(0.9, (1 + step) / (10 + step))  # step = updates averaged so far
            expected = decay * expected + (1 - decay) * model.weight.detach()
    averaged = ema.module
    assert isinstance(averaged, nn.Linear)
    assert torch.allclose(averaged.weight, expected, atol=1e-6)
    assert not torch.allclose(averaged.weight, model.weight)


@pytest.mark.parametrize("decay", [0.0, 1.0, 1.5])
def test_ema_decay_must_be_a_fraction(decay: float) -> None:
    with pytest.raises(ValueError, match="EMA decay"):
        ema_of(nn.Linear(2, 2), decay)


def test_train_scores_the_ema_beside_the_raw_weights(tmp_path: Path, tiny_model_dir: Path) -> None:
    out = tmp_path / "model"
    cfg = config(out, tiny_model_dir / "encoder", lora=False, ema_decay=0.9, epochs=2)
    metrics = train(cfg, say=lambda _: None, command="finsent train --ema-decay 0.9")
    for entry in metrics["history"]:
        assert {"dev_score", "ema_dev_score", "ema_sentiment_accuracy"} <= set(entry)
    best = metrics["best"]
    scores = [(e[f"{p}dev_score"], e["epoch"], w)
              for e in metrics["history"] for p, w in (("", "raw"), ("ema_", "ema"))]  # fmt: skip
    top = max(s for s, _, _ in scores)
    assert best["dev_score"] == top
    assert (best["dev_score"], best["epoch"], best["weights"]) in scores
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["best"]["weights"] == best["weights"]
    card = (out / "README.md").read_text()
    assert "EMA" in card and "| 2 EMA |" in card
    engine = Engine.from_folder(out, device="cpu")  # the kept weights are the ones saved
    dev = evaluate(engine, load_examples(cfg)[1])
    assert dev["sentiment"]["accuracy"] == pytest.approx(best["dev"]["sentiment"]["accuracy"])
    assert dev["topic"]["macro_f1"] == pytest.approx(best["dev"]["topic"]["macro_f1"])
